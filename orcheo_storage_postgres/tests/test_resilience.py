"""Server restart, terminated backends and pool exhaustion under load.

The restart test runs on a THROWAWAY cluster this test starts from the local binaries;
the machine's main server is never stopped. Terminations target only this test's pool
connections (matched by application_name).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from orcheo_storage.errors import BackendBusyError, BackendUnavailableError
from orcheo_storage.settings import StorageSettings
from orcheo_storage_postgres.plugin import PostgresBackend
from orcheo_storage_postgres.session import PostgresSession
from orcheo_storage_postgres.testing import Cluster, NoPostgres, must_run, start_cluster

from .conftest import make_settings

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    try:
        started = start_cluster()
    except NoPostgres as exc:
        if must_run():
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    try:
        yield started
    finally:
        started.destroy()


async def _writer(
    session: PostgresSession,
    acked: list[uuid.UUID],
    errors: list[BaseException],
    stop: asyncio.Event,
    successes_after: dict[int, float],
    task_no: int,
    times: list[float] | None = None,
) -> None:
    repo = session.workflows()
    while not stop.is_set():
        try:
            wf = await repo.create_workflow(name=f"w{task_no}", actor="load")
        except (BackendUnavailableError, BackendBusyError) as exc:
            errors.append(exc)
            await asyncio.sleep(0.05)
            continue
        acked.append(wf.id)
        now = time.monotonic()
        successes_after.setdefault(task_no, now)
        if times is not None:
            times.append(now)
        await asyncio.sleep(0)


async def _rows(dsn: str, schema: str) -> list[uuid.UUID]:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        cur = await conn.execute(f'SELECT id FROM "{schema}".workflows')  # schema from provision
        return [r[0] for r in await cur.fetchall()]


async def test_restart_under_load(cluster: Cluster, tmp_path: Path) -> None:
    base = make_settings(
        cluster.dsn, postgres_pool_min_size=4, postgres_pool_max_size=10, postgres_pool_timeout=2.0
    )
    async with PostgresBackend().provision(base, tmp_path) as settings:
        session = await PostgresSession.open(settings)
        acked: list[uuid.UUID] = []
        errors: list[BaseException] = []
        stop = asyncio.Event()
        warmup: dict[int, float] = {}
        times: list[float] = []
        tasks = [
            asyncio.create_task(_writer(session, acked, errors, stop, warmup, n, times))
            for n in range(50)
        ]
        try:
            await asyncio.sleep(1.0)
            assert len(warmup) == 50  # every task wrote before the restart
            before = len(acked)
            await asyncio.to_thread(cluster.stop, "fast")
            down_acked = len(acked)
            await asyncio.sleep(1.0)
            await asyncio.to_thread(cluster.start)
            back_at = time.monotonic()
            await asyncio.sleep(6.0)
        finally:
            stop.set()
            await asyncio.gather(*tasks)
        assert before > 0
        assert errors, "the restart should have been visible as typed errors"
        assert all(isinstance(e, BackendUnavailableError) for e in errors)
        assert len(acked) > down_acked
        # Serving again: a write acknowledged within 5 s of the server being back.
        recovered_after = min((t for t in times if t >= back_at), default=float("inf")) - back_at
        print(f"restart: {len(errors)} typed errors, serving {recovered_after:.2f} s after start")
        assert recovered_after < 5.0, f"serving again only after {recovered_after:.2f} s"
        stored = await _rows(cluster.dsn, settings.postgres_schema or "public")
        assert len(stored) == len(set(stored)), "duplicated rows"
        missing = set(acked) - set(stored)
        assert not missing, f"{len(missing)} acknowledged writes lost"
        assert len(acked) == len(set(acked))
        await session.close()


async def test_terminate_backends_during_load(pg_dsn: str, tmp_path: Path) -> None:
    app = f"orcheo_term_{uuid.uuid4().hex[:8]}"
    sep = "&" if "?" in pg_dsn else "?"
    base = make_settings(
        f"{pg_dsn}{sep}application_name={app}",
        postgres_pool_min_size=4,
        postgres_pool_max_size=8,
        postgres_pool_timeout=5.0,
    )
    async with PostgresBackend().provision(base, tmp_path) as settings:
        session = await PostgresSession.open(settings)
        acked: list[uuid.UUID] = []
        errors: list[BaseException] = []
        stop = asyncio.Event()
        started: dict[int, float] = {}
        tasks = [
            asyncio.create_task(_writer(session, acked, errors, stop, started, n))
            for n in range(30)
        ]
        terminated = 0
        try:
            async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as admin:
                for _ in range(3):
                    await asyncio.sleep(0.4)
                    cur = await admin.execute(
                        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                        "FROM pg_stat_activity WHERE application_name = %s",
                        (app,),
                    )
                    row = await cur.fetchone()
                    assert row is not None
                    terminated += int(row[0])
                await asyncio.sleep(1.0)
                mark = len(acked)
                await asyncio.sleep(0.5)
                assert len(acked) > mark, "the pool did not recover"
        finally:
            stop.set()
            await asyncio.gather(*tasks)
        assert terminated > 0
        print(f"terminate: {terminated} backends terminated, {len(errors)} in-flight errors")
        # Only in-flight operations fail: at most one per terminated connection.
        assert 0 < len(errors) <= terminated
        assert all(isinstance(e, BackendUnavailableError) for e in errors)
        stored = await _rows(pg_dsn, settings.postgres_schema or "public")
        assert set(acked) <= set(stored)
        assert len(stored) == len(set(stored))
        # The pool refilled to its minimum with working connections.
        await asyncio.sleep(0.5)
        stats = session.db.pool.get_stats()
        assert stats["pool_size"] >= settings.postgres_pool_min_size
        assert (await session.health()).ok
        await session.close()


async def test_pool_exhaustion_gives_busy_error(pg_settings: StorageSettings) -> None:
    settings = pg_settings.model_copy(
        update={
            "postgres_pool_min_size": 1,
            "postgres_pool_max_size": 2,
            "postgres_pool_max_waiting": 3,
            "postgres_pool_timeout": 0.5,
        }
    )
    session = await PostgresSession.open(settings)
    try:
        wf = await session.workflows().create_workflow(name="busy", actor="t")
        holders = [asyncio.create_task(session.db.one("SELECT pg_sleep(1.5)")) for _ in range(2)]
        await asyncio.sleep(0.2)  # both connections are now busy

        async def timed_get() -> tuple[BaseException | None, float]:
            start = time.monotonic()
            try:
                await session.workflows().get_workflow(wf.id)
            except BackendBusyError as exc:
                return exc, time.monotonic() - start
            return None, time.monotonic() - start

        results = await asyncio.gather(*(timed_get() for _ in range(10)))
        await asyncio.gather(*holders)
        busy = [r for r in results if r[0] is not None]
        assert len(busy) == 10  # 3 wait and time out, 7 exceed the wait queue at once
        assert all(isinstance(exc, BackendBusyError) for exc, _ in busy)
        assert max(elapsed for _, elapsed in busy) < 0.5 + 0.5
        assert sum(1 for _, elapsed in busy if elapsed < 0.1) >= 7  # rejected immediately
        # Afterwards the pool is whole: nothing leaked, nobody waiting, requests succeed.
        stats = session.db.pool.get_stats()
        assert stats.get("requests_waiting", 0) == 0
        assert stats["pool_size"] <= 2
        assert stats["pool_available"] == stats["pool_size"]
        assert (await session.workflows().get_workflow(wf.id)).id == wf.id
    finally:
        await session.close()
