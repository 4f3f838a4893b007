"""The ``sqlite`` storage backend: manifest, session factory and test provisioning."""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import cached_property
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from orcheo_storage.protocols.backend import (
    STORAGE_API_VERSION,
    BackendManifest,
    Capability,
    Subsystem,
)
from orcheo_storage.settings import BACKEND_SETTINGS, StorageSettings

from orcheo_storage_sqlite.session import BACKEND_NAME, SqliteSession

DISTRIBUTION = "orcheo-storage-sqlite"


def _langgraph_installed() -> bool:
    try:
        return importlib.util.find_spec("langgraph.checkpoint.sqlite.aio") is not None
    except ImportError:  # the parent package is missing
        return False


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

    async def open(self, settings: StorageSettings) -> SqliteSession:
        """Open the files of the subsystems that select ``sqlite`` (see :class:`SqliteSession`)."""
        return await SqliteSession.open(settings)

    def provision(
        self, settings: StorageSettings, workdir: Path
    ) -> AbstractAsyncContextManager[StorageSettings]:
        """A fresh temporary folder under ``workdir`` holding every SQLite file; removed on exit."""
        return _provision(settings, workdir)


@asynccontextmanager
async def _provision(settings: StorageSettings, workdir: Path) -> AsyncIterator[StorageSettings]:
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
