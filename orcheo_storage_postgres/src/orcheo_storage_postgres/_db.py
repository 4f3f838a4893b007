"""The connection pool and the small query helper every store uses.

One :class:`psycopg_pool.AsyncConnectionPool` per backend session. Connections are in
autocommit mode: a single statement is its own transaction (an explicit BEGIN/COMMIT
around a single read halves throughput, see PERFORMANCE.md), and :meth:`Db.transaction`
opens an explicit transaction only where atomicity needs several statements.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from orcheo_storage.jsoncodec import dumps, loads
from orcheo_storage.settings import StorageSettings, redact_dsn
from psycopg import sql
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import set_json_dumps, set_json_loads
from psycopg_pool import AsyncConnectionPool

from orcheo_storage_postgres._conninfo import checked_dsn, connect
from orcheo_storage_postgres._errors import translated
from orcheo_storage_postgres._qualify import cursor_classes
from orcheo_storage_postgres.schema import STEPS

log = logging.getLogger("orcheo_storage_postgres")

Conn = psycopg.AsyncConnection[DictRow]
Params = Sequence[Any] | dict[str, Any] | None
Query = str | bytes | sql.SQL | sql.Composed


UTC_ZONES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Universal", "Zulu", "GMT", "Etc/GMT"})
CATALOGUE = frozenset(
    {m.group(1) for step in STEPS for m in re.finditer(r"CREATE TABLE (\w+)", step.sql)}
    | {"orcheo_schema_migrations"}
)
"""Every table of this backend's schema: what the schema setting qualifies."""


def connection_kwargs(settings: StorageSettings) -> dict[str, Any]:
    """Keyword arguments for every connection (pooled or direct) of ``settings``.

    No startup ``options``: PgBouncer refuses the parameter (or drops it when told to
    ignore it). The schema is named in the statements instead (:mod:`._qualify`) and the
    time zone is set by :func:`configure_connection`.
    """
    return {
        "autocommit": True,
        "row_factory": dict_row,
        "prepare_threshold": settings.postgres_prepare_threshold,
    }


def configurer(
    schema: str | None, tables: frozenset[str] = CATALOGUE, *, core_json: bool = True
) -> Callable[[psycopg.AsyncConnection[Any]], Awaitable[None]]:
    """The pool's ``configure`` callback for connections of ``schema`` (see below)."""

    async def configure(conn: psycopg.AsyncConnection[Any]) -> None:
        await configure_connection(conn, schema, tables, core_json=core_json)

    return configure


async def configure_connection(
    conn: psycopg.AsyncConnection[Any],
    schema: str | None = None,
    tables: frozenset[str] = CATALOGUE,
    *,
    core_json: bool = True,
) -> None:
    """Prepare a new connection: the core JSON codec (exact Decimals and big integers;
    unless ``core_json`` is false), TIMESTAMPTZ values read back in UTC, and statements
    qualified with ``schema``.

    ``SET TIME ZONE`` is sent only when the server's zone is not UTC already (one round
    trip per new connection); PgBouncer tracks this parameter per client and applies it on
    whichever server connection serves the client's next transaction.
    """
    if core_json:
        set_json_dumps(dumps, conn)
        set_json_loads(loads, conn)
    if conn.info.parameter_status("TimeZone") not in UTC_ZONES:
        await conn.execute("SET TIME ZONE 'UTC'")
    if schema is not None:
        conn.cursor_factory, conn.server_cursor_factory = cursor_classes(schema, tables)


def make_pool(settings: StorageSettings, *, name: str = "orcheo") -> AsyncConnectionPool[Conn]:
    """A closed pool sized from ``settings``; open it with ``await pool.open()``.

    Raises:
        ConfigurationError: the DSN or schema name is malformed.
    """
    return AsyncConnectionPool(
        checked_dsn(settings),
        kwargs=connection_kwargs(settings),
        connection_class=psycopg.AsyncConnection[DictRow],
        min_size=settings.postgres_pool_min_size,
        max_size=settings.postgres_pool_max_size,
        timeout=settings.postgres_pool_timeout,
        max_idle=settings.postgres_pool_max_idle,
        max_waiting=settings.postgres_pool_max_waiting,
        check=AsyncConnectionPool.check_connection,
        configure=configurer(settings.postgres_schema),
        open=False,
        name=name,
    )


@asynccontextmanager
async def direct_connection(settings: StorageSettings) -> AsyncIterator[Conn]:
    """A one-off connection outside the pool (provisioning, schema migration at start-up).

    Its statements are not qualified: schema steps run under ``SET LOCAL search_path``
    inside their transaction, and provisioning names its schemas explicitly.

    Raises:
        ConfigurationError: malformed DSN or schema, refused credentials or database.
        BackendUnavailableError: the server cannot be reached within the start-up timeout.
    """
    conn = await connect(settings, **connection_kwargs(settings))
    try:
        with translated():
            await configure_connection(conn)
        yield conn
    finally:
        with translated():
            await conn.close()


class Db:
    """Query helpers over the session's pool; every error leaves as a core error."""

    def __init__(self, pool: AsyncConnectionPool[Conn], settings: StorageSettings) -> None:
        self.pool = pool
        self.settings = settings

    def __repr__(self) -> str:
        return f"Db(dsn={redact_dsn(self.settings.dsn())!r})"

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Conn]:
        """A pooled autocommit connection. Raises ``BackendBusyError`` when the pool is exhausted."""
        with translated():
            async with self.pool.connection() as conn:
                yield conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
        """A pooled connection inside BEGIN ... COMMIT (ROLLBACK on any exception)."""
        with translated():
            async with self.pool.connection() as conn, conn.transaction():
                yield conn

    async def one(self, query: Query, params: Params = None) -> DictRow | None:
        """The first row of a single autocommit statement, or ``None``."""
        with translated():
            async with self.pool.connection() as conn:
                cur = await conn.execute(query, params)
                return await cur.fetchone()

    async def all(self, query: Query, params: Params = None) -> list[DictRow]:
        """Every row of a single autocommit statement."""
        with translated():
            async with self.pool.connection() as conn:
                cur = await conn.execute(query, params)
                return await cur.fetchall()

    async def run(self, query: Query, params: Params = None) -> int:
        """Execute one autocommit statement; returns the affected row count."""
        with translated():
            async with self.pool.connection() as conn:
                cur = await conn.execute(query, params)
                return cur.rowcount


async def q_one(conn: Conn, query: Query, params: Params = None) -> DictRow | None:
    """First row of ``query`` on an already acquired connection."""
    cur = await conn.execute(query, params)
    return await cur.fetchone()


async def q_all(conn: Conn, query: Query, params: Params = None) -> list[DictRow]:
    """Every row of ``query`` on an already acquired connection."""
    cur = await conn.execute(query, params)
    return await cur.fetchall()
