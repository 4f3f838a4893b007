"""The connection layer: pragmas, paths, busy handling, error translation, closing."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from orcheo_storage.errors import BackendBusyError, BackendUnavailableError, ConflictError
from orcheo_storage_sqlite.engine import Database
from orcheo_storage_sqlite.session import SqliteSession


async def _pragmas(db: Database, *, reader: bool) -> tuple[object, ...]:
    def job(conn: sqlite3.Connection) -> tuple[object, ...]:
        return tuple(
            conn.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")
        )

    return await (db.read(job) if reader else db.write(job))


@pytest.mark.parametrize(("mode", "level"), [("FULL", 2), ("NORMAL", 1)])
async def test_connections_use_wal_foreign_keys_and_settings(
    tmp_path: Path, make_settings, mode: str, level: int
) -> None:
    settings = make_settings(tmp_path, sqlite_synchronous=mode, sqlite_busy_timeout_ms=1234)
    session = await SqliteSession.open(settings)
    try:
        db = session.database("repository")
        for reader in (False, True):
            assert await _pragmas(db, reader=reader) == ("wal", 1, level, 1234)
    finally:
        await session.close()


async def test_default_synchronous_is_full(session: SqliteSession) -> None:
    assert (await _pragmas(session.database("tokens"), reader=True))[2] == 2


async def test_paths_expand_home_and_create_parents(
    tmp_path: Path, make_settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = make_settings(
        tmp_path,
        repository_sqlite_path=Path("~/a/b/workflows.sqlite"),
        chatkit_sqlite_path=Path("~/c/chatkit.sqlite"),
    )
    session = await SqliteSession.open(settings)
    try:
        assert (tmp_path / "a" / "b" / "workflows.sqlite").exists()
        assert (tmp_path / "c" / "chatkit.sqlite").exists()
    finally:
        await session.close()


async def test_lock_held_by_another_process_times_out_as_busy(tmp_path: Path) -> None:
    db = Database(tmp_path / "busy.sqlite", busy_timeout_ms=200)
    await db.open()
    await db.write(lambda conn: conn.execute("CREATE TABLE t (a INTEGER)"))
    other = sqlite3.connect(tmp_path / "busy.sqlite", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(BackendBusyError):
            await db.write(lambda conn: conn.execute("INSERT INTO t VALUES (1)"))
    finally:
        other.execute("ROLLBACK")
        other.close()
    # Once released, writes proceed: "database is locked" never leaks as sqlite3 errors.
    await db.write(lambda conn: conn.execute("INSERT INTO t VALUES (2)"))
    await db.close()


async def test_lock_released_within_busy_timeout_is_waited_for(tmp_path: Path) -> None:
    db = Database(tmp_path / "wait.sqlite", busy_timeout_ms=5000)
    await db.open()
    await db.write(lambda conn: conn.execute("CREATE TABLE t (a INTEGER)"))
    other = sqlite3.connect(tmp_path / "wait.sqlite", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    timer = threading.Timer(0.3, lambda: other.execute("ROLLBACK"))
    timer.start()
    await db.write(lambda conn: conn.execute("INSERT INTO t VALUES (1)"))
    timer.join()
    other.close()
    assert await db.read(lambda conn: conn.execute("SELECT count(*) FROM t").fetchone()[0]) == 1
    await db.close()


async def test_driver_errors_are_translated_and_roll_back(tmp_path: Path) -> None:
    db = Database(tmp_path / "e.sqlite")
    await db.open()
    await db.write(lambda conn: conn.execute("CREATE TABLE t (a INTEGER PRIMARY KEY)"))

    def twice(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t VALUES (1)")
        conn.execute("INSERT INTO t VALUES (1)")

    with pytest.raises(ConflictError) as info:
        await db.write(twice)
    assert not isinstance(info.value, sqlite3.Error)
    assert info.value.__cause__ is None  # the driver exception is not chained
    assert await db.read(lambda conn: conn.execute("SELECT count(*) FROM t").fetchone()[0]) == 0
    await db.close()


async def test_readers_see_committed_writes_and_never_write(tmp_path: Path) -> None:
    db = Database(tmp_path / "r.sqlite")
    await db.open()
    await db.write(lambda conn: conn.execute("CREATE TABLE t (a INTEGER)"))
    await db.write(lambda conn: conn.execute("INSERT INTO t VALUES (7)"))
    assert await db.read(lambda conn: conn.execute("SELECT a FROM t").fetchone()[0]) == 7
    with pytest.raises(BackendUnavailableError):
        await db.read(lambda conn: conn.execute("INSERT INTO t VALUES (8)"))
    await db.close()


async def test_close_closes_every_connection_and_refuses_new_work(tmp_path: Path) -> None:
    db = Database(tmp_path / "c.sqlite")
    await db.open()
    await db.write(lambda conn: conn.execute("CREATE TABLE t (a INTEGER)"))
    await asyncio.gather(*(db.read(lambda c: c.execute("SELECT 1").fetchone()) for _ in range(8)))
    conns = [db._writer, *db._readers]
    await db.close()
    await db.close()  # idempotent
    for conn in conns:
        assert conn is not None
        with pytest.raises(sqlite3.ProgrammingError):
            conn.execute("SELECT 1")
    with pytest.raises(BackendUnavailableError):
        await db.read(lambda c: c.execute("SELECT 1"))
    # No threads of ours survive close (no hanging process at exit).
    assert not [t for t in threading.enumerate() if t.name.startswith("orcheo-sqlite")]


async def test_reprs_and_errors_do_not_show_paths(tmp_path: Path) -> None:
    secret_dir = tmp_path / "s3cr3t-folder"
    db = Database(secret_dir / "x.sqlite")
    assert "s3cr3t" not in repr(db)


def test_reads_yield_to_running_writes_but_are_never_starved() -> None:
    """The writer priority of the engine (benchmarks/SQLITE.md, mixed load): a read about to
    start waits for running write transactions, for a bounded time only."""
    import time

    from orcheo_storage_sqlite.engine import _WriterPriority

    priority = _WriterPriority(1)
    started = time.monotonic()
    priority.yield_to_writers(30)  # no write running: no wait
    assert time.monotonic() - started < 5
    priority.enter_write()
    started = time.monotonic()
    priority.yield_to_writers(0.05)  # a write that never ends: the read goes after 50 ms
    assert time.monotonic() - started >= 0.04
    finish = threading.Timer(0.05, priority.leave_write)
    finish.start()
    started = time.monotonic()
    priority.yield_to_writers(30)  # returns when the write ends, long before the bound
    finish.join()
    assert time.monotonic() - started < 10


async def test_queued_writes_run_in_order_and_a_cancelled_one_never_commits(
    tmp_path: Path,
) -> None:
    db = Database(tmp_path / "q.sqlite")
    await db.open()
    await db.write(lambda conn: conn.execute("CREATE TABLE t (n INTEGER)"))
    gate = threading.Event()

    def blocked(conn: sqlite3.Connection) -> None:
        gate.wait(10)
        conn.execute("INSERT INTO t VALUES (0)")

    first = asyncio.ensure_future(db.write(blocked))
    queued = [
        asyncio.ensure_future(
            db.write(lambda conn, n=n: conn.execute("INSERT INTO t VALUES (?)", (n,)))
        )
        for n in range(1, 6)
    ]
    await asyncio.sleep(0.05)
    queued[2].cancel()  # n = 3, still queued behind the blocked write
    gate.set()
    await first
    results = await asyncio.gather(*queued, return_exceptions=True)
    assert isinstance(results[2], asyncio.CancelledError)
    rows = await db.read(
        lambda conn: [r[0] for r in conn.execute("SELECT n FROM t ORDER BY rowid")]
    )
    assert rows == [0, 1, 2, 4, 5]
    await db.close()
