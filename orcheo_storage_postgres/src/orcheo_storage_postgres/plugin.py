"""The ``postgres`` storage backend plugin (entry point ``orcheo.storage: postgres``).

Light on purpose: discovery imports this module for every installed backend, selected or
not. psycopg, the stores and ChatKit's types (about 300 ms) are imported by ``open()`` and
``provision()``; the LangGraph probe looks for the module without importing it.
"""

from __future__ import annotations

import os
from contextlib import AbstractAsyncContextManager
from functools import cached_property
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from orcheo_storage._manifest import (
    STORAGE_API_VERSION,
    BackendManifest,
    Capability,
    StorageBackend,
    Subsystem,
)
from orcheo_storage.plugins.hookspecs import hookimpl
from orcheo_storage.plugins.lazy import find_module, import_lazily, verify_lazy

if TYPE_CHECKING:
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


SESSION_MODULE = "orcheo_storage_postgres.session"
PROVISIONING_MODULES = (
    "orcheo_storage_postgres.provisioning",
    "orcheo_storage_postgres.provisioning_db",
)


def _langgraph_installed() -> bool:
    # Found without importing: importlib.util.find_spec would import LangGraph.
    return find_module("langgraph.checkpoint.postgres")


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

    @cached_property
    def _schemas(self) -> SchemaProvisioner:
        module = import_lazily(self._manifest, PROVISIONING_MODULES[0])
        provisioner: SchemaProvisioner = module.SchemaProvisioner()
        return provisioner

    @cached_property
    def _databases(self) -> DatabaseProvisioner:
        module = import_lazily(self._manifest, PROVISIONING_MODULES[1])
        provisioner: DatabaseProvisioner = module.DatabaseProvisioner()
        return provisioner

    def verify_installation(self) -> None:
        """Called by the plugin host at discovery: the session module and psycopg can be
        loaded (checked without importing them; see :mod:`orcheo_storage.plugins.lazy`)."""
        verify_lazy(self._manifest, [SESSION_MODULE, *PROVISIONING_MODULES])

    async def open(self, settings: StorageSettings) -> PostgresSession:
        """Open a pool for ``settings``.

        Raises:
            BackendBrokenError: the session module (or psycopg) fails to import.
        """
        session: type[PostgresSession] = import_lazily(
            self._manifest, SESSION_MODULE
        ).PostgresSession
        return await session.open(settings)

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
