"""Is a connection borrowed from the pool still usable? Answered without a round trip.

The pool no longer checks a connection with an empty query on every borrow (one round
trip per operation). An idle connection has nothing to read: the server speaks when asked,
except for asynchronous messages (a notice, a parameter change) and its goodbye when the
backend is terminated or shut down (an error message, then end of file). So a socket with
nothing to read is served as is, and only a readable one pays for a real check. A
connection killed an instant before it is borrowed can still slip through: reads are
retried once on another connection (:meth:`._db.Db.read`), writes are never retried.
"""

from __future__ import annotations

import select
from typing import Any

import psycopg
from psycopg.pq import ConnStatus, TransactionStatus
from psycopg_pool import AsyncConnectionPool


def quiet(conn: psycopg.AsyncConnection[Any]) -> bool:
    """True if ``conn`` is open, idle and has received nothing since its last statement."""
    pgconn = conn.pgconn
    if pgconn.status != ConnStatus.OK or pgconn.transaction_status != TransactionStatus.IDLE:
        return False
    try:
        fd = pgconn.socket
    except psycopg.OperationalError:
        return False
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return not poller.poll(0)
    readable, _, _ = select.select([fd], [], [], 0)  # pragma: no cover - platforms without poll
    return not readable


async def usable(conn: psycopg.AsyncConnection[Any]) -> bool:
    """True if ``conn`` can serve a statement: :func:`quiet`, or else an empty query works."""
    if quiet(conn):
        return True
    try:
        await AsyncConnectionPool.check_connection(conn)
    except psycopg.Error:
        return False
    return True


def lost(conn: psycopg.AsyncConnection[Any], exc: psycopg.OperationalError) -> bool:
    """True if ``exc`` means ``conn`` itself is gone (not a busy or cancelled statement)."""
    return conn.broken or isinstance(
        exc, psycopg.errors.AdminShutdown | psycopg.errors.CrashShutdown
    )
