"""A pooled connection killed while idle (``pg_terminate_backend``) is never seen by a read.

The pool has no per-borrow check (no round trip per operation): a borrowed connection
whose socket has something to say is checked and replaced (``_liveness``), and a read
that finds its connection lost is run again once on another one (``Db.read``). Writes
are never retried. Real server; terminations target only this test's connections
(matched by application_name).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from orcheo_storage.errors import BackendUnavailableError
from orcheo_storage_postgres.plugin import PostgresBackend
from orcheo_storage_postgres.session import PostgresSession

from .conftest import make_settings

pytestmark = pytest.mark.postgres


async def _terminate(admin: psycopg.AsyncConnection[Any], pids: list[int]) -> None:
    """Terminate ``pids`` and wait until they are gone (their goodbye is on the wire)."""
    await admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (pids,))
    for _ in range(200):
        cur = await admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s::int[])", (pids,)
        )
        row = await cur.fetchone()
        if row is not None and row[0] == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"backends {pids} still alive")


async def _pids(admin: psycopg.AsyncConnection[Any], app: str) -> list[int]:
    cur = await admin.execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (app,)
    )
    return [int(r[0]) for r in await cur.fetchall()]


@pytest.fixture
async def killable(
    pg_dsn: str, tmp_path: Path
) -> AsyncIterator[tuple[PostgresSession, psycopg.AsyncConnection[Any], str]]:
    app = f"orcheo_idle_{uuid.uuid4().hex[:8]}"
    sep = "&" if "?" in pg_dsn else "?"
    base = make_settings(
        f"{pg_dsn}{sep}application_name={app}",
        postgres_pool_min_size=4,
        postgres_pool_max_size=4,
    )
    async with PostgresBackend().provision(base, tmp_path) as settings:
        session = await PostgresSession.open(settings)
        try:
            async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as admin:
                yield session, admin, app
        finally:
            await session.close()


async def test_read_after_every_idle_connection_was_killed(
    killable: tuple[PostgresSession, psycopg.AsyncConnection[Any], str],
) -> None:
    session, admin, app = killable
    wf = await session.workflows().create_workflow(name="idle", actor="t")
    await session.db.pool.wait()
    before = await _pids(admin, app)
    assert len(before) == 4
    await _terminate(admin, before)
    # Every pooled connection is dead: reads still succeed, one after the other...
    for _ in range(6):
        assert (await session.workflows().get_workflow(wf.id)).id == wf.id
    # ...and concurrently, on connections the pool opened in place of the dead ones.
    await _terminate(admin, await _pids(admin, app))
    got = await asyncio.gather(*(session.workflows().get_workflow(wf.id) for _ in range(20)))
    assert {w.id for w in got} == {wf.id}
    assert not set(before) & set(await _pids(admin, app))


async def test_read_whose_connection_dies_under_it_is_retried_once(
    killable: tuple[PostgresSession, psycopg.AsyncConnection[Any], str],
) -> None:
    """The connection is killed after the borrow's liveness check: the retry covers it."""
    session, admin, _ = killable
    attempts: list[int] = []

    async def read(conn: Any) -> int:
        attempts.append(conn.info.backend_pid)
        if len(attempts) == 1:
            await _terminate(admin, [conn.info.backend_pid])
        cur = await conn.execute("SELECT 1 AS one")
        row = await cur.fetchone()
        return int(row["one"])

    assert await session.db.read(read) == 1
    assert len(attempts) == 2
    assert attempts[0] != attempts[1]


async def test_read_is_retried_once_only(
    killable: tuple[PostgresSession, psycopg.AsyncConnection[Any], str],
) -> None:
    session, admin, _ = killable

    async def read(conn: Any) -> None:
        await _terminate(admin, [conn.info.backend_pid])
        await conn.execute("SELECT 1")

    with pytest.raises(BackendUnavailableError):
        await session.db.read(read)


async def test_write_whose_connection_dies_is_not_retried(
    killable: tuple[PostgresSession, psycopg.AsyncConnection[Any], str],
) -> None:
    session, admin, _ = killable
    runs = 0

    async def write() -> None:
        nonlocal runs
        async with session.db.connection() as conn:
            runs += 1
            await _terminate(admin, [conn.info.backend_pid])
            await conn.execute("SELECT 1")

    with pytest.raises(BackendUnavailableError):
        await write()
    assert runs == 1
    # The broken connection was discarded: the next operations are served.
    wf = await session.workflows().create_workflow(name="after", actor="t")
    assert (await session.workflows().get_workflow(wf.id)).id == wf.id
