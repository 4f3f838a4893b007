"""An open PostgreSQL backend: one pool and the stores that share it."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

from orcheo_storage.errors import BackendBusyError, BackendUnavailableError
from orcheo_storage.keys import cipher_for
from orcheo_storage.protocols.backend import HealthReport, SchemaStatus
from orcheo_storage.settings import StorageSettings, redact_dsn
from psycopg_pool import AsyncConnectionPool

from orcheo_storage_postgres import langgraph, migrations
from orcheo_storage_postgres._db import Db, direct_connection, make_pool
from orcheo_storage_postgres._errors import translated
from orcheo_storage_postgres.bulk import PostgresBulkTransfer
from orcheo_storage_postgres.stores.agentensor import PostgresAgentensorStore
from orcheo_storage_postgres.stores.chat import PostgresChatStore
from orcheo_storage_postgres.stores.history import PostgresHistoryStore
from orcheo_storage_postgres.stores.listeners import PostgresListenerStore
from orcheo_storage_postgres.stores.remediations import PostgresRemediationStore
from orcheo_storage_postgres.stores.tokens import PostgresServiceTokenStore
from orcheo_storage_postgres.stores.triggers import PostgresTriggerStore
from orcheo_storage_postgres.stores.vault import PostgresVaultRecordStore
from orcheo_storage_postgres.stores.workflows import PostgresWorkflowRepository


async def _open_pool(pool: AsyncConnectionPool[Any], settings: StorageSettings) -> None:
    error: BackendUnavailableError | None = None
    try:
        with translated():
            await pool.open(
                wait=settings.postgres_pool_min_size > 0, timeout=settings.postgres_pool_timeout
            )
    except BackendBusyError:  # the pool's timeout while filling itself: not a busy server
        error = BackendUnavailableError(
            f"PostgreSQL accepted one connection but the pool could not open "
            f"{settings.postgres_pool_min_size} within ORCHEO_POSTGRES_POOL_TIMEOUT"
        )
    if error is not None:
        raise error


class PostgresSession:
    """:class:`~orcheo_storage.protocols.backend.BackendSession` on one connection pool."""

    def __init__(self, settings: StorageSettings, db: Db) -> None:
        self.settings = settings
        self.db = db
        self._workflows = PostgresWorkflowRepository(db)
        self._triggers: PostgresTriggerStore | None = None
        self._listeners = PostgresListenerStore(db)
        self._remediations = PostgresRemediationStore(db)
        self._history = PostgresHistoryStore(db)
        self._tokens = PostgresServiceTokenStore(db)
        self._agentensor = PostgresAgentensorStore(db)
        self._vault = PostgresVaultRecordStore(db)
        self._chat = PostgresChatStore(db)
        self._bulk = PostgresBulkTransfer(db)

    @classmethod
    async def open(cls, settings: StorageSettings) -> PostgresSession:
        """Check the settings, connect once (bounded), migrate when asked, open the pool.

        The first connection fails within seconds (see :mod:`._conninfo`), so a wrong
        DSN, password or host is reported at once rather than after the pool timeout.

        Raises:
            ConfigurationError: malformed DSN or schema name, credentials or database
                refused, or a database schema from an unknown or edited release.
            BackendUnavailableError: the server cannot be reached.
        """
        async with direct_connection(settings) as conn:
            if settings.auto_migrate:
                with translated():
                    await migrations.migrate(conn, settings.postgres_schema)
        pool = make_pool(settings)
        try:
            await _open_pool(pool, settings)
        except BaseException:
            await pool.close()
            raise
        return cls(settings, Db(pool, settings))

    def __repr__(self) -> str:
        return f"PostgresSession(dsn={redact_dsn(self.settings.dsn())!r}, schema={self.settings.postgres_schema!r})"

    def workflows(self) -> PostgresWorkflowRepository:
        return self._workflows

    def triggers(self) -> PostgresTriggerStore:
        if self._triggers is None:
            self._triggers = PostgresTriggerStore(self.db, cipher_for(self.settings))
        return self._triggers

    def listeners(self) -> PostgresListenerStore:
        return self._listeners

    def remediations(self) -> PostgresRemediationStore:
        return self._remediations

    def history(self) -> PostgresHistoryStore:
        return self._history

    def service_tokens(self) -> PostgresServiceTokenStore:
        return self._tokens

    def agentensor(self) -> PostgresAgentensorStore:
        return self._agentensor

    def vault_records(self) -> PostgresVaultRecordStore:
        return self._vault

    def chatkit(self) -> PostgresChatStore:
        return self._chat

    def langgraph_checkpointer(self) -> AbstractAsyncContextManager[Any]:
        return langgraph.checkpointer(self.settings)

    def bulk(self) -> PostgresBulkTransfer:
        return self._bulk

    async def health(self) -> HealthReport:
        """Round trip to the server plus pool statistics (never raises)."""
        stats = self.db.pool.get_stats()
        details = {
            "pool_size": str(stats.get("pool_size", 0)),
            "pool_available": str(stats.get("pool_available", 0)),
            "requests_waiting": str(stats.get("requests_waiting", 0)),
            "schema": self.settings.postgres_schema or "public",
        }
        try:
            row = await self.db.one("SELECT current_setting('server_version') AS v")
        except Exception as exc:  # health reports, it does not raise
            details["error"] = str(exc)
            return HealthReport(ok=False, details=details)
        details["server_version"] = str(row["v"]) if row else "?"
        return HealthReport(ok=True, details=details)

    async def schema_status(self) -> SchemaStatus:
        async with self.db.connection() as conn:
            with translated():
                return await migrations.status(conn, self.settings.postgres_schema)

    async def migrate_schema(self, *, dry_run: bool = False) -> list[str]:
        async with self.db.connection() as conn:
            with translated():
                return await migrations.migrate(
                    conn, self.settings.postgres_schema, dry_run=dry_run
                )

    async def close(self) -> None:
        await self.db.pool.close()
