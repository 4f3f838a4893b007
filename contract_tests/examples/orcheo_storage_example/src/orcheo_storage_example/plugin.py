"""The ``example`` backend: everything a plugin needs, in one small module.

A real backend would open connections in :meth:`ExampleBackend.open` and create (and
drop) an isolated database, schema or file in :meth:`ExampleBackend.provision`. This
one reuses the memory backend's session, so each ``open()`` is already isolated.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from orcheo_storage.keys import cipher_for
from orcheo_storage.memory.session import MemorySession
from orcheo_storage.plugins.hookspecs import hookimpl
from orcheo_storage.protocols.backend import (
    STORAGE_API_VERSION,
    BackendManifest,
    BackendSession,
    Capability,
    Subsystem,
)
from orcheo_storage.settings import BACKEND_SETTINGS, StorageSettings

NAME = "example"


class ExampleBackend:
    """A :class:`~orcheo_storage.protocols.backend.StorageBackend`."""

    manifest = BackendManifest(
        name=NAME,  # must equal the entry-point name
        distribution="orcheo-storage-example",
        version="0.1.0",
        api_version=STORAGE_API_VERSION,
        subsystems=frozenset(s for s in Subsystem if s is not Subsystem.LANGGRAPH),
        # The memory stores filter JSON by containment and search text, so say so; not
        # declaring cross_process_atomic makes the suite skip those tests and say why.
        capabilities=frozenset({Capability.JSON_CONTAINMENT, Capability.FULL_TEXT_SEARCH}),
        description="Worked example: in-process storage built on the memory backend's stores.",
    )

    async def open(self, settings: StorageSettings) -> BackendSession:
        """A fresh session: the memory backend's stores over new, empty state."""
        return MemorySession(cipher_for(settings))

    def provision(
        self, settings: StorageSettings, workdir: Path
    ) -> AbstractAsyncContextManager[StorageSettings]:
        """Settings for a fresh namespace (each ``open`` is empty, so nothing to create)."""
        return _namespace(settings)


@asynccontextmanager
async def _namespace(settings: StorageSettings) -> AsyncIterator[StorageSettings]:
    yield settings.model_copy(update=dict.fromkeys(BACKEND_SETTINGS, NAME))
    # A database backend drops its temporary schema or file here.


@hookimpl
def orcheo_storage_backend() -> ExampleBackend:
    """Return the example backend."""
    return ExampleBackend()
