"""Cancellation: a task cancelled between a statement and COMMIT rolls back and frees the lock."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from pathlib import Path

from orcheo_storage.settings import StorageSettings
from orcheo_storage_sqlite.session import SqliteSession

CANCELLED_WRITES = 1000


async def test_thousand_writes_cancelled_mid_transaction(
    tmp_path: Path, settings: StorageSettings
) -> None:
    session = await SqliteSession.open(settings)
    db = session.database("repository")
    await db.write(lambda conn: conn.execute("CREATE TABLE probe (n INTEGER NOT NULL)"))
    workflows = session.workflows()
    workflow = await workflows.create_workflow(name="other writer", actor="t")
    loop = asyncio.get_running_loop()

    # Another writer keeps going the whole time.
    stop = asyncio.Event()
    versions: list[int] = []

    async def other_writer() -> None:
        while not stop.is_set():
            v = await workflows.create_version(
                workflow.id, graph={"n": len(versions)}, created_by="t"
            )
            versions.append(v.version)

    background = asyncio.create_task(other_writer())
    cancelled = 0
    for n in range(CANCELLED_WRITES):
        reached = asyncio.Event()
        gate = threading.Event()

        # Bind this iteration's events now (the thread may run after they are rebound).
        def job(
            conn: sqlite3.Connection,
            n: int = n,
            reached: asyncio.Event = reached,
            gate: threading.Event = gate,
        ) -> None:
            conn.execute("INSERT INTO probe (n) VALUES (?)", (n,))
            # Between the statement and COMMIT: tell the test, then wait for it.
            loop.call_soon_threadsafe(reached.set)
            gate.wait(5)

        task = asyncio.create_task(db.write(job))
        await reached.wait()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        cancelled += task.cancelled()
        gate.set()

    stop.set()
    await background
    # Every cancelled transaction rolled back.
    assert cancelled == CANCELLED_WRITES
    assert await db.write(lambda c: c.execute("SELECT count(*) FROM probe").fetchone()[0]) == 0
    # The other writer proceeded meanwhile, gapless.
    assert versions
    assert versions == list(range(1, len(versions) + 1))
    # No lock is held: another connection takes the write lock without waiting.
    other = sqlite3.connect(tmp_path / "workflows.sqlite", isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO probe (n) VALUES (-1)")
    other.execute("COMMIT")
    other.close()
    await session.close()


async def test_cancelled_store_operations_leave_consistent_state(session: SqliteSession) -> None:
    workflows = session.workflows()
    workflow = await workflows.create_workflow(name="w", actor="t")
    tasks = [
        asyncio.create_task(workflows.create_version(workflow.id, graph={"i": i}, created_by="t"))
        for i in range(200)
    ]
    await asyncio.sleep(0.005)
    for task in tasks[::2]:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    done = [r.version for r in results if not isinstance(r, BaseException)]
    stored = [v.version for v in await workflows.list_versions(workflow.id)]
    # Numbers stay gapless whatever was cancelled, and every acknowledged one is stored.
    assert stored == list(range(1, len(stored) + 1))
    assert set(done) <= set(stored)
