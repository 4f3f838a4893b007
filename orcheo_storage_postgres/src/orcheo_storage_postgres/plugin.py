"""The ``postgres`` storage backend plugin (entry point ``orcheo.storage: postgres``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from orcheo_storage.plugins.hookspecs import hookimpl
from orcheo_storage.protocols.backend import (
    STORAGE_API_VERSION,
    BackendManifest,
    Capability,
    StorageBackend,
    Subsystem,
)
from orcheo_storage.settings import StorageSettings
from psycopg import sql

from orcheo_storage_postgres._db import direct_connection
from orcheo_storage_postgres._errors import translated
from orcheo_storage_postgres.session import PostgresSession

DISTRIBUTION = "orcheo-storage-postgres"


def _version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"


def _langgraph_installed() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("langgraph.checkpoint.postgres") is not None
    except ModuleNotFoundError:
        return False


class PostgresBackend:
    """The PostgreSQL backend: opens sessions and provisions throwaway schemas."""

    def __init__(self) -> None:
        capabilities = {
            Capability.JSON_CONTAINMENT,
            Capability.FULL_TEXT_SEARCH,
            Capability.CROSS_PROCESS_ATOMIC,
            Capability.BULK_COPY,
            Capability.PERSISTENT,
        }
        subsystems = set(Subsystem) - {Subsystem.LANGGRAPH}
        if _langgraph_installed():
            capabilities.add(Capability.LANGGRAPH)
            subsystems.add(Subsystem.LANGGRAPH)
        self._manifest = BackendManifest(
            name="postgres",
            distribution=DISTRIBUTION,
            version=_version(),
            api_version=STORAGE_API_VERSION,
            subsystems=frozenset(subsystems),
            capabilities=frozenset(capabilities),
            description="PostgreSQL via psycopg 3 and one async connection pool per session",
        )

    @property
    def manifest(self) -> BackendManifest:
        return self._manifest

    async def open(self, settings: StorageSettings) -> PostgresSession:
        return await PostgresSession.open(settings)

    def provision(
        self, settings: StorageSettings, workdir: Path
    ) -> AbstractAsyncContextManager[StorageSettings]:
        """A fresh, uniquely named schema (``workdir`` is unused), dropped on exit."""
        return _provision(settings)


@asynccontextmanager
async def _provision(settings: StorageSettings) -> AsyncIterator[StorageSettings]:
    """A fresh schema with a unique name, dropped (CASCADE) on exit."""
    schema = f"orcheo_t_{uuid.uuid4().hex[:20]}"
    fresh = settings.model_copy(update={"postgres_schema": schema})
    async with direct_connection(settings) as conn:
        with translated():
            await conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield fresh
    finally:
        async with direct_connection(settings) as conn:
            with translated():
                await conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                )


@hookimpl
def orcheo_storage_backend() -> StorageBackend:
    """Return the PostgreSQL backend."""
    return PostgresBackend()
