"""The ``memory`` backend plugin: entry point ``memory = "orcheo_storage.memory.plugin"``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import cached_property
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

# Light on purpose (discovery imports this module): the stores, models and the cipher are
# imported by open().
from orcheo_storage._manifest import (
    STORAGE_API_VERSION,
    BackendManifest,
    Capability,
    StorageBackend,
    Subsystem,
)
from orcheo_storage.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from orcheo_storage.memory.session import MemorySession
    from orcheo_storage.settings import StorageSettings

BACKEND_NAME = "memory"
DISTRIBUTION = "orcheo-storage"


def _version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
        return "0+unknown"


class MemoryBackend:
    """:class:`~orcheo_storage.protocols.backend.StorageBackend` keeping data in the process.

    Each :meth:`open` returns a fresh, empty session; its data lives exactly as long as
    that session. Not persistent and not atomic across processes.
    """

    def __repr__(self) -> str:
        return "MemoryBackend()"

    @cached_property
    def manifest(self) -> BackendManifest:
        return BackendManifest(
            name=BACKEND_NAME,
            distribution=DISTRIBUTION,
            version=_version(),
            api_version=STORAGE_API_VERSION,
            subsystems=frozenset(s for s in Subsystem if s is not Subsystem.LANGGRAPH),
            capabilities=frozenset({Capability.JSON_CONTAINMENT, Capability.FULL_TEXT_SEARCH}),
            description="In-process storage for tests and demos; data lives as long as the session.",
        )

    async def open(self, settings: StorageSettings) -> MemorySession:
        """A fresh, empty session whose webhook secrets use the vault cipher of ``settings``
        (made on first use, so a session that never stores a webhook secret touches no
        key file)."""
        from orcheo_storage.keys import cipher_for
        from orcheo_storage.memory.session import MemorySession

        return MemorySession(lambda: cipher_for(settings))

    def provision(
        self, settings: StorageSettings, workdir: Path
    ) -> AbstractAsyncContextManager[StorageSettings]:
        """Yield ``settings`` with every backend set to ``memory`` (each open is isolated)."""
        return _provision(settings)


@asynccontextmanager
async def _provision(settings: StorageSettings) -> AsyncIterator[StorageSettings]:
    from orcheo_storage.settings import BACKEND_SETTINGS

    yield settings.model_copy(update=dict.fromkeys(BACKEND_SETTINGS, BACKEND_NAME))


@hookimpl
def orcheo_storage_backend() -> StorageBackend:
    """Return the in-memory backend."""
    return MemoryBackend()
