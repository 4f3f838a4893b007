"""Group commit: writes queued together share one transaction, with the outcome of
running them one by one (a failing or cancelled job is left out, alone)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from orcheo_storage.errors import BackendBusyError, ConflictError, NotFoundError, StorageError
from orcheo_storage_sqlite.engine import Database
from orcheo_storage_sqlite.writequeue import MAX_GROUP


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "g.sqlite")
    await database.open()

    def schema(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE t (n INTEGER UNIQUE)")
        conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        conn.execute(
            "CREATE TABLE child (pid INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"
        )

    await database.write(schema)
    yield database
    await database.close()


def _insert(n: int, table: str = "t", column: str = "n") -> Callable[[sqlite3.Connection], int]:
    def job(conn: sqlite3.Connection) -> int:
        conn.execute(f"INSERT INTO {table} ({column}) VALUES (?)", (n,))
        return n

    return job


async def _rows(db: Database, table: str = "t", column: str = "n") -> list[int]:
    return await db.read(
        lambda conn: [r[0] for r in conn.execute(f"SELECT {column} FROM {table} ORDER BY rowid")]
    )


class _Blocker:
    """A write job that holds the writer thread until released, so others queue up."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, conn: sqlite3.Connection) -> None:
        self.entered.set()
        self.release.wait(10)

    async def hold(self, db: Database) -> asyncio.Future[None]:
        held = asyncio.ensure_future(db.write(self))
        assert await asyncio.to_thread(self.entered.wait, 10)
        return held


def _count_commits(db: Database) -> list[str]:
    seen: list[str] = []
    assert db._writer is not None
    db._writer.set_trace_callback(lambda stmt: seen.append(stmt) if stmt == "COMMIT" else None)
    return seen


async def test_writes_queued_together_commit_once_in_order(db: Database) -> None:
    commits = _count_commits(db)
    blocker = _Blocker()
    held = await blocker.hold(db)
    queued = [asyncio.ensure_future(db.write(_insert(n))) for n in range(20)]
    await asyncio.sleep(0.05)
    blocker.release.set()
    await held
    assert await asyncio.gather(*queued) == list(range(20))
    assert await _rows(db) == list(range(20))
    assert commits == ["COMMIT", "COMMIT"]  # the blocker alone, then the twenty together


async def test_a_group_holds_at_most_max_group_jobs(db: Database) -> None:
    commits = _count_commits(db)
    blocker = _Blocker()
    held = await blocker.hold(db)
    queued = [asyncio.ensure_future(db.write(_insert(n))) for n in range(MAX_GROUP + 1)]
    await asyncio.sleep(0.05)
    blocker.release.set()
    await held
    await asyncio.gather(*queued)
    assert len(commits) == 3
    assert await _rows(db) == list(range(MAX_GROUP + 1))


async def test_a_failing_job_is_answered_alone_and_leaves_no_trace(db: Database) -> None:
    def writes_then_fails(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t (n) VALUES (100)")
        raise NotFoundError("gone")

    blocker = _Blocker()
    held = await blocker.hold(db)
    jobs: list[Callable[[sqlite3.Connection], object]] = [
        _insert(1),
        writes_then_fails,
        _insert(2),
        _insert(1),  # a duplicate of the first: a driver error, translated
        _insert(3),
    ]
    queued = [asyncio.ensure_future(db.write(job)) for job in jobs]
    await asyncio.sleep(0.05)
    blocker.release.set()
    await held
    results = await asyncio.gather(*queued, return_exceptions=True)
    assert [results[0], results[2], results[4]] == [1, 2, 3]
    assert isinstance(results[1], NotFoundError)
    assert isinstance(results[3], ConflictError)
    assert await _rows(db) == [1, 2, 3]


async def test_a_commit_failure_is_traced_to_its_job(db: Database) -> None:
    await db.write(_insert(1, "parent", "id"))
    blocker = _Blocker()
    held = await blocker.hold(db)
    queued = [
        asyncio.ensure_future(db.write(_insert(1, "child", "pid"))),
        asyncio.ensure_future(db.write(_insert(99, "child", "pid"))),  # fails at COMMIT
        asyncio.ensure_future(db.write(_insert(1, "child", "pid"))),
    ]
    await asyncio.sleep(0.05)
    blocker.release.set()
    await held
    results = await asyncio.gather(*queued, return_exceptions=True)
    assert [results[0], results[2]] == [1, 1]
    assert isinstance(results[1], StorageError)
    assert await _rows(db, "child", "pid") == [1, 1]


async def test_a_caller_cancelled_while_its_group_runs_is_left_out(db: Database) -> None:
    later = _Blocker()

    def slow_insert(conn: sqlite3.Connection) -> int:
        later(conn)
        conn.execute("INSERT INTO t (n) VALUES (2)")
        return 2

    blocker = _Blocker()
    held = await blocker.hold(db)
    first = asyncio.ensure_future(db.write(_insert(1)))
    second = asyncio.ensure_future(db.write(slow_insert))
    await asyncio.sleep(0.05)
    blocker.release.set()
    await held
    # the group runs: the first job already ran
    assert await asyncio.to_thread(later.entered.wait, 10)
    first.cancel()
    await asyncio.sleep(0.01)
    later.release.set()
    assert await second == 2
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await _rows(db) == [2]


async def test_every_job_of_a_group_hears_of_a_lock_held_past_the_timeout(
    tmp_path: Path,
) -> None:
    db = Database(tmp_path / "busy.sqlite", busy_timeout_ms=200)
    await db.open()
    await db.write(lambda conn: conn.execute("CREATE TABLE t (n INTEGER)"))
    commits = _count_commits(db)
    other = sqlite3.connect(tmp_path / "busy.sqlite", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    # Keep the writer thread busy outside any transaction while three writes queue up.
    release = threading.Event()
    db._writer_pool.submit(release.wait, 10)
    queued = [asyncio.ensure_future(db.write(_insert(n))) for n in range(3)]
    await asyncio.sleep(0.05)
    release.set()
    try:
        results = await asyncio.gather(*queued, return_exceptions=True)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert all(isinstance(r, BackendBusyError) for r in results), results
    assert commits == []
    assert await _rows(db) == []
    await db.write(_insert(7))  # the lock released, writes go on
    assert await _rows(db) == [7]
    await db.close()
