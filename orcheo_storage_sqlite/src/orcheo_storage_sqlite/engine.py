"""One SQLite database file: a serialised writer connection plus reader connections.

Design (measured against aiosqlite in ``benchmarks/sqlite_bench.py``):

* Every operation is a plain synchronous function ``job(conn) -> T`` that runs the whole
  transaction on a connection's own thread, so one operation costs one hop between the
  event loop and a thread, instead of one hop per statement as with aiosqlite.
* Writes go to ONE writer connection on ONE thread, fed by a FIFO queue (the writer
  queue, :mod:`orcheo_storage_sqlite.writequeue`): the thread takes every job queued (up to
  :data:`~orcheo_storage_sqlite.writequeue.MAX_GROUP`) and runs them back
  to back in one ``BEGIN IMMEDIATE`` transaction with one ``COMMIT`` (group commit), which
  serialises them in-process and pays the commit (an fsync with ``synchronous=FULL``) once
  per group instead of once per job. Each caller is answered after the ``COMMIT`` holding
  its job, so a returned write is as durable as before. A job that raises (or whose caller
  was cancelled) is left out: the transaction rolls back and the others run again, so the
  outcome is that of running the jobs one by one. ``BEGIN IMMEDIATE`` takes the write lock
  up front, so other processes are serialised by SQLite itself.
* Reads go to a small pool of reader connections (``query_only``) on their own threads;
  in WAL mode they never block the writer nor wait for it.
* Writers have priority under mixed load (``benchmarks/sqlite_mixed_bench.py``): every
  statement of a write gives up and takes back the GIL, and a write needing it back waits
  behind whatever Python code other threads run, so many readers starved writers (30-70
  writes/s beside 67 reading tasks). Hence, process-wide: at most :data:`READ_SLOTS` read
  jobs run at once (a bounded reader pool over every database: their Python work is
  serialised by the GIL anyway, and 100 reading tasks measured the same reads/s with one
  slot as with one per thread), and a read job about to start waits while a write
  transaction is running, for at most :data:`WRITER_PRIORITY_S` (reads are delayed, never
  starved). And on the event loop, while writes are pending, only a few reads are in
  flight (:mod:`orcheo_storage_sqlite.admission`): the loop thread itself otherwise keeps
  the GIL busy with reading tasks.
* Lock errors ("database is locked") are retried with backoff inside the busy timeout
  and become :class:`~orcheo_storage.errors.BackendBusyError` only after it.
* Cancellation: the transaction runs on its thread to the end whatever happens to the
  awaiting task, and if that task was cancelled before ``COMMIT`` the thread rolls back
  instead. So the rollback cannot itself be interrupted, and no lock outlives the job.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from orcheo_storage.errors import (
    BackendBusyError,
    BackendUnavailableError,
    ConfigurationError,
    StorageError,
)

from orcheo_storage_sqlite._errors import first_line, is_busy, translate
from orcheo_storage_sqlite.admission import gate
from orcheo_storage_sqlite.writequeue import (
    Job,
    Ticket,
    Write,
    WriteQueue,
    raised,
    rollback,
    run_jobs,
)

SQLITE_NOTADB = 26

T = TypeVar("T")
log = logging.getLogger(__name__)

DEFAULT_READERS = 2
READ_SLOTS = 1
"""Read jobs that may run at once in this process, over every database (see the module doc)."""
WRITER_PRIORITY_S = 0.005
"""How long a read job about to start waits for running write transactions to finish."""


class _WriterPriority:
    """Process-wide count of write transactions running on writer threads; read jobs wait
    (bounded) for it to reach zero before they start. Also bounds the read jobs running at
    once. Thread-safe; shared by every :class:`Database` of the process."""

    def __init__(self, read_slots: int) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._writing = 0
        self.read_slots = threading.BoundedSemaphore(read_slots)

    def enter_write(self) -> None:
        with self._cond:
            self._writing += 1

    def leave_write(self) -> None:
        with self._cond:
            self._writing -= 1
            if not self._writing:
                self._cond.notify_all()

    def yield_to_writers(self, timeout: float) -> None:
        """Wait until no write transaction runs, for at most ``timeout`` seconds."""
        if not self._writing:  # racy read on purpose: a hint, the wait is bounded anyway
            return
        with self._cond:
            self._cond.wait_for(lambda: not self._writing, timeout)


_PRIORITY = _WriterPriority(READ_SLOTS)


def _create_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists: SQLite then creates the
    ``-wal`` and ``-shm`` files with the database's own mode."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


class JobCancelledError(Exception):
    """Raised on the worker thread when the awaiting task was cancelled before commit."""


class Database:
    """A SQLite file opened with the project's pragmas.

    Args:
        path: the database file (parents are created; ``~`` expanded).
        synchronous: ``FULL`` (default, durable across power loss), ``NORMAL`` or ``EXTRA``.
        busy_timeout_ms: how long a writer waits for another process's lock.
        readers: number of reader connections.
        setting: the ``ORCHEO_`` variable that names the file (for error messages).
    """

    def __init__(
        self,
        path: Path,
        *,
        synchronous: str = "FULL",
        busy_timeout_ms: int = 30_000,
        readers: int = DEFAULT_READERS,
        setting: str | None = None,
    ) -> None:
        if synchronous not in ("FULL", "NORMAL", "EXTRA", "OFF"):
            raise ValueError(f"invalid synchronous mode {synchronous!r}")
        self.path = path.expanduser()
        self.setting = setting
        self.synchronous = synchronous
        self.busy_timeout_ms = busy_timeout_ms
        self._writer_pool = ThreadPoolExecutor(1, thread_name_prefix="orcheo-sqlite-writer")
        self._reader_pool = ThreadPoolExecutor(readers, thread_name_prefix="orcheo-sqlite-reader")
        self._writer: sqlite3.Connection | None = None
        self._readers: list[sqlite3.Connection] = []
        self._local = threading.local()
        self._lock = threading.Lock()
        # Writes are queued here and drained by the writer thread (group commit). An
        # asyncio.Lock in front, admitting one write at a time, put two or three passes of
        # the event loop between consecutive writes: beside many readers each pass is long,
        # and writes fell to 30-70/s (benchmarks/SQLITE.md, mixed load).
        self._queue = WriteQueue()
        self._closed = False

    def __repr__(self) -> str:
        return f"Database(name={self.path.name!r}, synchronous={self.synchronous!r})"

    # --- lifecycle ------------------------------------------------------------------------

    async def open(self) -> None:
        """Create the file (mode 0600) and the writer connection (WAL, foreign keys, busy timeout).

        Raises:
            ConfigurationError: the path is not a SQLite database (or not a file at all).
            BackendUnavailableError: the file cannot be created or opened.
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _create_private(self.path)
        except OSError as exc:
            raise BackendUnavailableError(
                self._where(f"cannot create SQLite database {self.path.name!r}: {exc.strerror}")
            ) from None
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._writer_pool, self._open_writer)

    def _where(self, message: str) -> str:
        return f"{self.setting}: {message}" if self.setting else message

    def _connect(self, *, reader: bool) -> sqlite3.Connection:
        problem: StorageError | None = None
        try:
            conn = sqlite3.connect(
                self.path,
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=False,  # closed from close(), never used concurrently
                timeout=self.busy_timeout_ms / 1000,
                cached_statements=256,
            )
        except sqlite3.Error as exc:
            problem = BackendUnavailableError(
                self._where(
                    f"cannot open SQLite database {self.path.name!r}: {exc.__class__.__name__}"
                )
            )
        if problem is not None:
            raise problem
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            if reader:
                conn.execute("PRAGMA query_only = ON")
        except sqlite3.DatabaseError as exc:
            conn.close()
            problem = self._not_a_database(exc)
        if problem is not None:
            raise problem
        return conn

    def _not_a_database(self, exc: sqlite3.Error) -> StorageError:
        code = getattr(exc, "sqlite_errorcode", None)
        if code == SQLITE_NOTADB or "not a database" in str(exc):
            return ConfigurationError(
                self._where(f"{self.path.name!r} is not a SQLite database (or is encrypted)")
            )
        return BackendUnavailableError(
            self._where(f"cannot open SQLite database {self.path.name!r}: {first_line(exc)}")
        )

    def _open_writer(self) -> None:
        conn = self._connect(reader=False)
        # journal_mode needs a lock: retry like any write when another process starts up.
        try:
            self._retry_busy(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone())
        except BaseException:
            conn.close()
            raise
        self._writer = conn

    def _reader_conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect(reader=True)
            self._local.conn = conn
            with self._lock:
                self._readers.append(conn)
        return conn

    async def close(self) -> None:
        """Finish queued jobs, then close every connection. Idempotent."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._shutdown)

    def _shutdown(self) -> None:
        self._writer_pool.shutdown(wait=True)
        self._reader_pool.shutdown(wait=True)
        conns = [*self._readers, *([self._writer] if self._writer else [])]
        for conn in conns:
            try:
                conn.close()
            except sqlite3.Error:  # pragma: no cover - closing is best effort
                log.warning("closing a SQLite connection failed", exc_info=True)
        self._readers.clear()
        self._writer = None

    @property
    def closed(self) -> bool:
        return self._closed

    # --- running jobs ---------------------------------------------------------------------

    async def write(self, job: Job[T]) -> T:
        """Run ``job`` in a ``BEGIN IMMEDIATE`` transaction on the writer connection.

        Jobs queued together are committed together (group commit, see the module doc); each
        caller is answered after the ``COMMIT`` that holds its job. The job may run more than
        once (the lock could not be taken at first, or another job of its group failed), so
        it must only touch the connection. Returns what the job returns. A caller cancelled
        before the ``COMMIT`` of its group is left out of it (nothing of its job commits); one
        cancelled while that ``COMMIT`` runs gets ``CancelledError`` and its write stands.

        Raises:
            StorageError: what the job raised, or the translation of a driver error;
                ``BackendBusyError`` when the lock stayed taken past the busy timeout.
        """
        return await gate().write(lambda: self._submit_write(job))

    async def _submit_write(self, job: Job[T]) -> T:
        if self._closed:
            raise BackendUnavailableError("the SQLite backend session is closed")
        loop = asyncio.get_running_loop()
        entry: Write[T] = Write(job, contextvars.copy_context(), loop)
        if self._queue.put(entry):
            try:
                self._writer_pool.submit(self._queue.drain, self._run_group)
            except RuntimeError:  # executor shut down
                self._queue.fail_all(
                    BackendUnavailableError("the SQLite backend session is closed")
                )
        try:
            return await entry.future
        except asyncio.CancelledError:
            # The thread notices this before COMMIT and leaves the job out instead.
            entry.ticket.cancelled = True
            raise

    async def read(self, job: Job[T], *, snapshot: bool = False) -> T:
        """Run ``job`` on a reader connection (in one read transaction when ``snapshot``)."""
        return await gate().read(
            lambda: self._submit(self._reader_pool, self._run_read, job, snapshot)
        )

    async def _submit(self, pool: ThreadPoolExecutor, runner: Callable[..., T], *args: object) -> T:
        if self._closed:
            raise BackendUnavailableError("the SQLite backend session is closed")
        ticket = Ticket()
        loop = asyncio.get_running_loop()
        try:
            # The job runs in a copy of the caller's context, so what it reads from context
            # variables (the clock of orcheo_storage.clock) is what the caller sees.
            context = contextvars.copy_context()
            future = loop.run_in_executor(pool, context.run, runner, ticket, *args)
        except RuntimeError:  # executor shut down
            raise BackendUnavailableError("the SQLite backend session is closed") from None
        try:
            return await future
        except asyncio.CancelledError:
            # The thread notices this before COMMIT and rolls back instead.
            ticket.cancelled = True
            raise
        except JobCancelledError:  # pragma: no cover - only raised after cancellation
            raise asyncio.CancelledError from None

    def _deadline(self) -> float:
        return time.monotonic() + self.busy_timeout_ms / 1000

    def _retry_busy(self, step: Callable[[], T]) -> T:
        deadline = self._deadline()
        delay = 0.001
        while True:
            try:
                return step()
            except sqlite3.Error as exc:
                if not is_busy(exc) or time.monotonic() >= deadline:
                    raise translate(exc) from None
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.05)

    def _run_group(self, group: list[Write[object]]) -> None:
        """Run ``group`` (queued write jobs, in order) in one transaction and answer each.

        A job that fails (or whose caller was cancelled) is answered alone: the transaction
        is rolled back and the others run again without it, so what commits is exactly what
        running the jobs one by one in order would have committed. Busy errors back off and
        retry the whole group until the busy timeout.
        """
        live = [e for e in group if not e.cancelled]
        conn = self._writer
        if conn is None:
            for e in live:
                e.fail(BackendUnavailableError("the SQLite writer connection is closed"))
            return
        deadline = self._deadline()
        delay = 0.001
        while live:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                if is_busy(exc) and time.monotonic() < deadline:
                    time.sleep(delay * (0.5 + random.random()))
                    delay = min(delay * 2, 0.05)
                    continue
                for e in live:
                    e.fail(raised(exc))
                return
            _PRIORITY.enter_write()
            try:
                # COMMIT is inside the priority window: leaving before it measured a third
                # of the writes/s (the commit takes the GIL back several times).
                results, failed, error = run_jobs(conn, live)
            finally:
                _PRIORITY.leave_write()
            if failed is None and error is None:
                for e, result in zip(live, results, strict=True):
                    e.succeed(result)
                return
            busy = isinstance(error, sqlite3.Error) and is_busy(error)
            if busy and time.monotonic() < deadline:
                # busy inside the transaction: back off (readers run meanwhile), retry
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.05)
                continue
            if failed is None:  # COMMIT itself failed (a deferred constraint, a full disk)
                assert error is not None
                if len(live) > 1 and not busy:  # nothing is stored: go one by one
                    for e in live:
                        self._run_group([e])
                    return
                for e in live:
                    e.fail(raised(error))
                return
            if error is not None:
                live[failed].fail(raised(error))
            del live[failed]

    def _run_read(self, ticket: Ticket, job: Job[T], snapshot: bool) -> T:
        conn = self._reader_conn()
        deadline = self._deadline()
        delay = 0.001
        while True:
            # Each attempt yields to running writes, then takes the read slot; a busy
            # back-off sleeps without holding the slot (other files' reads go on).
            _PRIORITY.yield_to_writers(WRITER_PRIORITY_S)
            try:
                with _PRIORITY.read_slots:
                    return self._read_once(conn, job, snapshot)
            except sqlite3.Error as exc:
                if is_busy(exc) and time.monotonic() < deadline and not ticket.cancelled:
                    time.sleep(delay * (0.5 + random.random()))
                    delay = min(delay * 2, 0.05)
                    continue
                raise translate(exc) from None

    @staticmethod
    def _read_once(conn: sqlite3.Connection, job: Job[T], snapshot: bool) -> T:
        if not snapshot:
            return job(conn)
        conn.execute("BEGIN")
        try:
            return job(conn)
        finally:
            rollback(conn)


__all__ = ["BackendBusyError", "Database", "JobCancelledError"]
