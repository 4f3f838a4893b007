"""The connection pool and the small query helper every store uses.

One :class:`psycopg_pool.AsyncConnectionPool` per backend session. Connections are in
autocommit mode: a single statement is its own transaction (an explicit BEGIN/COMMIT
around a single read halves throughput, see PERFORMANCE.md), and :meth:`Db.transaction`
opens an explicit transaction only where atomicity needs several statements.

A borrow costs no round trip: the pool has no per-borrow check; a borrowed connection is
served if its socket is quiet (:mod:`._liveness`), dead ones are discarded and replaced by
the pool, and reads (:meth:`Db.read`, :meth:`Db.read_one`, :meth:`Db.read_all`) are retried
once on another connection when theirs turns out to be lost. Writes are never retried: a
lost connection may have committed them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import psycopg
from orcheo_storage.jsoncodec import dumps, loads
from orcheo_storage.settings import StorageSettings, redact_dsn
from psycopg import sql
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import set_json_dumps, set_json_loads
from psycopg_pool import AsyncConnectionPool

from orcheo_storage_postgres._conninfo import checked_dsn, connect
from orcheo_storage_postgres._cursors import cursor_classes
from orcheo_storage_postgres._errors import translated
from orcheo_storage_postgres._liveness import lost, quiet, usable
from orcheo_storage_postgres.schema import STEPS

log = logging.getLogger("orcheo_storage_postgres")

Conn = psycopg.AsyncConnection[DictRow]
Params = Sequence[Any] | dict[str, Any] | None
Query = str | bytes | sql.SQL | sql.Composed
T = TypeVar("T")


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
    """The pool's ``configure`` callback for connections of ``schema`` (see below): their
    statements are rendered once per session (:mod:`._statements`)."""

    async def configure(conn: psycopg.AsyncConnection[Any]) -> None:
        await configure_connection(conn, schema, tables, core_json=core_json, rendered=True)

    return configure


async def configure_connection(
    conn: psycopg.AsyncConnection[Any],
    schema: str | None = None,
    tables: frozenset[str] = CATALOGUE,
    *,
    core_json: bool = True,
    rendered: bool = False,
) -> None:
    """Prepare a new connection: the core JSON codec (exact Decimals and big integers;
    unless ``core_json`` is false), TIMESTAMPTZ values read back in UTC, and statements
    qualified with ``schema`` (and, when ``rendered``, every statement rendered once and
    served from the cache of ``schema``'s cursor classes, qualified or not).

    ``SET TIME ZONE`` is sent only when the server's zone is not UTC already (one round
    trip per new connection); PgBouncer tracks this parameter per client and applies it on
    whichever server connection serves the client's next transaction.
    """
    if core_json:
        set_json_dumps(dumps, conn)
        set_json_loads(loads, conn)
    if conn.info.parameter_status("TimeZone") not in UTC_ZONES:
        await conn.execute("SET TIME ZONE 'UTC'")
    if schema is not None or rendered:
        conn.cursor_factory, conn.server_cursor_factory = cursor_classes(
            schema, tables, conn.info.encoding
        )


def make_pool(settings: StorageSettings, *, name: str = "orcheo") -> AsyncConnectionPool[Conn]:
    """A closed pool sized from ``settings``; open it with ``await pool.open()``.

    No ``check`` callback: borrowing costs no round trip (see :class:`Db`).

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

    async def _borrow(self) -> Conn:
        """A usable pooled connection: quiet ones at no cost; dead ones are closed (the pool
        replaces them) and the next one is tried. Return it with ``pool.putconn``."""
        conn = await self.pool.getconn()
        if quiet(conn):
            return conn
        return await self._checked(conn)

    async def _checked(self, conn: Conn) -> Conn:
        """``conn`` if a real check passes, else the next usable pooled connection."""
        for _ in range(self.pool.max_size):
            try:
                ok = await usable(conn)
            except BaseException:  # cancelled while checking: the connection goes back
                await self.pool.putconn(conn)
                raise
            if ok:
                return conn
            log.info("discarding a pooled connection closed by the server")
            await conn.close()
            await self.pool.putconn(conn)
            conn = await self.pool.getconn()
        return conn  # still failing: the read retry or an error decides

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Conn]:
        """A pooled autocommit connection. Raises ``BackendBusyError`` when the pool is exhausted."""
        with translated():
            conn = await self._borrow()
            try:
                yield conn
            finally:
                await self.pool.putconn(conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
        """A pooled connection inside BEGIN ... COMMIT (ROLLBACK on any exception)."""
        with translated():
            conn = await self._borrow()
            try:
                async with conn.transaction():
                    yield conn
            finally:
                await self.pool.putconn(conn)

    async def read(self, work: Callable[[Conn], Awaitable[T]]) -> T:
        """``work(conn)`` on a pooled connection, retried once on another connection if the
        first one is lost (terminated, reset). ``work`` must be idempotent: reads only."""
        with translated():
            for attempt in (1, 2):
                conn = await self._borrow()
                try:
                    return await work(conn)
                except psycopg.OperationalError as exc:
                    if attempt == 2 or not lost(conn, exc):
                        raise
                    log.info("a pooled connection was lost during a read: reading again")
                finally:
                    await self.pool.putconn(conn)
        raise AssertionError("unreachable")  # pragma: no cover

    async def read_one(self, query: Query, params: Params = None) -> DictRow | None:
        """The first row of a single read-only statement (retried once, see :meth:`read`)."""
        return await self.read(lambda conn: q_one(conn, query, params))

    async def read_all(self, query: Query, params: Params = None) -> list[DictRow]:
        """Every row of a single read-only statement (retried once, see :meth:`read`)."""
        return await self.read(lambda conn: q_all(conn, query, params))

    async def _once(self, work: Callable[[Conn], Awaitable[T]]) -> T:
        """``work(conn)`` on a pooled autocommit connection, never retried (the write hot
        path: a plain try/finally, not the generator-based context manager of
        :meth:`connection`, which costs several microseconds per call)."""
        with translated():
            conn = await self._borrow()
            try:
                return await work(conn)
            finally:
                await self.pool.putconn(conn)

    async def one(self, query: Query, params: Params = None) -> DictRow | None:
        """The first row of a single autocommit statement, or ``None`` (never retried)."""
        return await self._once(lambda conn: q_one(conn, query, params))

    async def all(self, query: Query, params: Params = None) -> list[DictRow]:
        """Every row of a single autocommit statement (never retried)."""
        return await self._once(lambda conn: q_all(conn, query, params))

    async def run(self, query: Query, params: Params = None) -> int:
        """Execute one autocommit statement; returns the affected row count (never retried)."""
        return await self._once(lambda conn: q_count(conn, query, params))


async def q_one(conn: Conn, query: Query, params: Params = None) -> DictRow | None:
    """First row of ``query`` on an already acquired connection."""
    cur = await conn.execute(query, params)
    return await cur.fetchone()


async def q_all(conn: Conn, query: Query, params: Params = None) -> list[DictRow]:
    """Every row of ``query`` on an already acquired connection."""
    cur = await conn.execute(query, params)
    return await cur.fetchall()


async def q_count(conn: Conn, query: Query, params: Params = None) -> int:
    """The affected row count of ``query`` on an already acquired connection."""
    cur = await conn.execute(query, params)
    return cur.rowcount
