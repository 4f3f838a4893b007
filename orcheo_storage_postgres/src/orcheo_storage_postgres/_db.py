"""The connection pool and the small query helper every store uses.

One :class:`psycopg_pool.AsyncConnectionPool` per backend session. Connections are in
autocommit mode: a single statement is its own transaction (an explicit BEGIN/COMMIT
around a single read halves throughput, see PERFORMANCE.md), and :meth:`Db.transaction`
opens an explicit transaction only where atomicity needs several statements.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from orcheo_storage.jsoncodec import dumps, loads
from orcheo_storage.settings import StorageSettings, redact_dsn
from psycopg import sql
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import set_json_dumps, set_json_loads
from psycopg_pool import AsyncConnectionPool

from orcheo_storage_postgres._errors import translated

log = logging.getLogger("orcheo_storage_postgres")

Conn = psycopg.AsyncConnection[DictRow]
Params = Sequence[Any] | dict[str, Any] | None
Query = str | bytes | sql.SQL | sql.Composed


def connection_kwargs(settings: StorageSettings) -> dict[str, Any]:
    """Keyword arguments for every connection (pooled or direct) of ``settings``.

    The schema is selected with a startup ``options`` parameter rather than a ``SET``,
    so it costs no round trip and survives every statement. ``timezone=UTC`` makes
    TIMESTAMPTZ values come back as UTC.
    """
    options = "-c timezone=UTC"
    if settings.postgres_schema:
        options += f" -c search_path={settings.postgres_schema}"
    return {
        "autocommit": True,
        "row_factory": dict_row,
        "prepare_threshold": settings.postgres_prepare_threshold,
        "options": options,
    }


async def configure_connection(conn: psycopg.AsyncConnection[Any]) -> None:
    """Make JSON/JSONB use the core codec on this connection (exact Decimals and big ints)."""
    set_json_dumps(dumps, conn)
    set_json_loads(loads, conn)


def make_pool(settings: StorageSettings, *, name: str = "orcheo") -> AsyncConnectionPool[Conn]:
    """A closed pool sized from ``settings``; open it with ``await pool.open()``."""
    return AsyncConnectionPool(
        settings.dsn(),
        kwargs=connection_kwargs(settings),
        connection_class=psycopg.AsyncConnection[DictRow],
        min_size=settings.postgres_pool_min_size,
        max_size=settings.postgres_pool_max_size,
        timeout=settings.postgres_pool_timeout,
        max_idle=settings.postgres_pool_max_idle,
        max_waiting=settings.postgres_pool_max_waiting,
        check=AsyncConnectionPool.check_connection,
        configure=configure_connection,
        open=False,
        name=name,
    )


@asynccontextmanager
async def direct_connection(settings: StorageSettings) -> AsyncIterator[Conn]:
    """A one-off connection outside the pool (provisioning, schema migration at start-up).

    Raises:
        BackendUnavailableError: the server cannot be reached.
    """
    with translated():
        conn = await psycopg.AsyncConnection.connect(settings.dsn(), **connection_kwargs(settings))
    try:
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
