"""The ``postgres`` storage backend plugin (entry point ``orcheo.storage: postgres``)."""

from __future__ import annotations

import os
from contextlib import AbstractAsyncContextManager
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

from orcheo_storage_postgres.provisioning import SchemaProvisioner
from orcheo_storage_postgres.provisioning_db import DatabaseProvisioner
from orcheo_storage_postgres.session import PostgresSession

DISTRIBUTION = "orcheo-storage-postgres"
NAMESPACE_VARIABLE = "ORCHEO_TEST_POSTGRES_NAMESPACE"
"""How ``provision`` isolates: ``schema`` (default) or ``database`` (no schema setting)."""


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
        self._schemas = SchemaProvisioner()
        self._databases = DatabaseProvisioner()
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
        """A fresh, uniquely named schema (``workdir`` is unused), recycled on exit; or a
        fresh database with no schema setting when ``ORCHEO_TEST_POSTGRES_NAMESPACE=database``."""
        if os.environ.get(NAMESPACE_VARIABLE, "schema").strip().lower() == "database":
            return self._databases.provision(settings)
        return self._schemas.provision(settings)


@hookimpl
def orcheo_storage_backend() -> StorageBackend:
    """Return the PostgreSQL backend."""
    return PostgresBackend()
