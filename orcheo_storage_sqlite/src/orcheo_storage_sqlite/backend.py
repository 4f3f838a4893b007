"""The ``sqlite`` storage backend: manifest, session factory and test provisioning.

Light on purpose: discovery imports this module (through ``plugin``) for every installed
backend, selected or not. The session, its stores and aiosqlite are imported by
:meth:`SqliteBackend.open`; the LangGraph probe looks for the module without importing it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import cached_property
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from orcheo_storage._manifest import (
    STORAGE_API_VERSION,
    BackendManifest,
    Capability,
    Subsystem,
)
from orcheo_storage.plugins.lazy import find_module, import_lazily, verify_lazy

if TYPE_CHECKING:
    from orcheo_storage.settings import StorageSettings

    from orcheo_storage_sqlite.session import SqliteSession

DISTRIBUTION = "orcheo-storage-sqlite"
BACKEND_NAME = "sqlite"
SESSION_MODULE = "orcheo_storage_sqlite.session"


def _langgraph_installed() -> bool:
    # Found without importing: importlib.util.find_spec would import LangGraph (~120 ms).
    return find_module("langgraph.checkpoint.sqlite.aio")


class SqliteBackend:
    """:class:`~orcheo_storage.protocols.backend.StorageBackend` for embedded SQLite files."""

    def __repr__(self) -> str:
        return "SqliteBackend()"

    @cached_property
    def manifest(self) -> BackendManifest:
        try:
            dist_version = version(DISTRIBUTION)
        except PackageNotFoundError:  # pragma: no cover - running from a source tree
            dist_version = "0+unknown"
        langgraph = _langgraph_installed()
        subsystems: set[Subsystem] = {s for s in Subsystem if s is not Subsystem.LANGGRAPH}
        capabilities = {
            Capability.JSON_CONTAINMENT,
            Capability.FULL_TEXT_SEARCH,
            Capability.CROSS_PROCESS_ATOMIC,
            Capability.BULK_COPY,
            Capability.PERSISTENT,
        }
        if langgraph:
            subsystems.add(Subsystem.LANGGRAPH)
            capabilities.add(Capability.LANGGRAPH)
        return BackendManifest(
            name=BACKEND_NAME,
            distribution=DISTRIBUTION,
            version=dist_version,
            api_version=STORAGE_API_VERSION,
            subsystems=frozenset(subsystems),
            capabilities=frozenset(capabilities),
            description="Embedded SQLite files (WAL, one serialised writer, reader connections).",
        )

    def verify_installation(self) -> None:
        """Called by the plugin host at discovery: the session module and aiosqlite can be
        loaded (checked without importing them; see :mod:`orcheo_storage.plugins.lazy`)."""
        verify_lazy(self.manifest, [SESSION_MODULE])

    async def open(self, settings: StorageSettings) -> SqliteSession:
        """Open the files of the subsystems that select ``sqlite`` (see :class:`SqliteSession`).

        Raises:
            BackendBrokenError: the session module (or aiosqlite) fails to import.
        """
        session: type[SqliteSession] = import_lazily(self.manifest, SESSION_MODULE).SqliteSession
        return await session.open(settings)

    def provision(
        self, settings: StorageSettings, workdir: Path
    ) -> AbstractAsyncContextManager[StorageSettings]:
        """A fresh temporary folder under ``workdir`` holding every SQLite file; removed on exit."""
        return _provision(settings, workdir)


@asynccontextmanager
async def _provision(settings: StorageSettings, workdir: Path) -> AsyncIterator[StorageSettings]:
    from orcheo_storage.settings import BACKEND_SETTINGS

    # Two cheap local filesystem calls; not worth a thread hop.
    workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240
    folder = Path(tempfile.mkdtemp(prefix="orcheo-sqlite-", dir=workdir))
    try:
        update: dict[str, object] = dict.fromkeys(BACKEND_SETTINGS, BACKEND_NAME)
        update.update(
            repository_sqlite_path=folder / "workflows.sqlite",
            chatkit_sqlite_path=folder / "chatkit.sqlite",
            vault_local_path=folder / "vault.sqlite",
            auth_service_token_db_path=folder / "service_tokens.sqlite",
        )
        yield settings.model_copy(update=update)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
