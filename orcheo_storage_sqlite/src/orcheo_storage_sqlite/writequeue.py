"""The writer queue of a SQLite database: queued write jobs, committed in groups.

Write jobs from any event loop are queued here; the database's writer thread drains the
queue, taking up to :data:`MAX_GROUP` jobs at a time and running them in one transaction
(:meth:`~orcheo_storage_sqlite.engine.Database._run_group`). Each job's caller is answered
on its own event loop once the ``COMMIT`` holding the job is done.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from orcheo_storage_sqlite._errors import translate

T = TypeVar("T")
Job = Callable[[sqlite3.Connection], T]
log = logging.getLogger(__name__)


class Ticket:
    """Shared between an awaiting task and the thread running its job.

    ``cancelled`` is a plain attribute (set once, from the event loop, read by the thread;
    attribute writes are atomic): cheaper than a ``threading.Event`` on every operation.
    """

    __slots__ = ("cancelled",)

    def __init__(self) -> None:
        self.cancelled = False


MAX_GROUP = 64
"""Most queued write jobs committed by one transaction (group commit)."""


class Write(Generic[T]):
    """A queued write job, its caller's context and event loop, and the future answered."""

    __slots__ = ("context", "future", "job", "loop", "ticket")

    def __init__(
        self, job: Job[T], context: contextvars.Context, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.job = job
        self.context = context
        self.loop = loop
        self.ticket = Ticket()
        self.future: asyncio.Future[T] = loop.create_future()

    @property
    def cancelled(self) -> bool:
        """Whether the caller was cancelled. ``Task.cancel()`` cancels the awaited future at
        once (the ticket is set only when the task next runs), so the future is looked at
        too: a read of its state, safe from the writer thread."""
        return self.ticket.cancelled or self.future.cancelled()

    def run(self, conn: sqlite3.Connection) -> T:
        # The job runs in a copy of the caller's context, so what it reads from context
        # variables (the clock of orcheo_storage.clock) is what the caller sees.
        return self.context.run(self.job, conn)

    def succeed(self, result: object) -> None:
        self._answer(_set_result, result)

    def fail(self, error: BaseException) -> None:
        self._answer(_set_exception, error)

    def _answer(self, setter: Callable[[asyncio.Future[T], Any], None], value: object) -> None:
        try:
            self.loop.call_soon_threadsafe(setter, self.future, value)
        except RuntimeError:  # pragma: no cover - the caller's loop is closed: nobody waits
            log.debug("a SQLite write finished after its event loop closed")


def raised(error: BaseException) -> BaseException:
    """What a job's caller receives for ``error``: driver errors become core errors."""
    return translate(error) if isinstance(error, sqlite3.Error) else error


def _set_result(future: asyncio.Future[Any], value: object) -> None:
    if not future.done():  # a cancelled caller is not answered
        future.set_result(value)


def _set_exception(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


def run_jobs(
    conn: sqlite3.Connection, group: list[Write[Any]]
) -> tuple[list[object], int | None, BaseException | None]:
    """Run ``group`` in the open transaction, then COMMIT; on any failure roll back.

    Returns the results, the index of the job that failed or whose caller was cancelled
    (``None`` when the jobs all ran), and the error (``None`` for a cancelled caller or on
    success; a COMMIT failure comes with index ``None``).
    """
    results: list[object] = []
    for i, entry in enumerate(group):
        if entry.cancelled:
            rollback(conn)
            return results, i, None
        try:
            results.append(entry.run(conn))
        except BaseException as exc:
            rollback(conn)
            return results, i, exc
    for i, entry in enumerate(group):  # cancelled while a later job of the group ran
        if entry.cancelled:
            rollback(conn)
            return results, i, None
    try:
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        rollback(conn)
        return results, None, exc
    return results, None, None


class WriteQueue:
    """The FIFO of write jobs waiting for the writer thread (thread-safe).

    :meth:`put` says whether a drain must be started: at most one drain is queued or
    running on the writer thread at a time, and it runs until the queue is empty.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: deque[Write[Any]] = deque()
        self._draining = False

    def put(self, entry: Write[Any]) -> bool:
        with self._lock:
            self._entries.append(entry)
            if self._draining:
                return False
            self._draining = True
            return True

    def _take(self) -> list[Write[Any]]:
        with self._lock:
            count = min(MAX_GROUP, len(self._entries))
            if not count:
                self._draining = False
            return [self._entries.popleft() for _ in range(count)]

    def drain(self, run_group: Callable[[list[Write[Any]]], None]) -> None:
        """On the writer thread: run queued groups until the queue is empty."""
        while group := self._take():
            try:
                run_group(group)
            except BaseException as exc:  # pragma: no cover - run_group answers its own errors
                log.exception("a SQLite write group failed unexpectedly")
                for entry in group:
                    entry.fail(exc)

    def fail_all(self, error: BaseException) -> None:
        """Answer every queued job with ``error`` (the writer thread is gone)."""
        with self._lock:
            entries = list(self._entries)
            self._entries.clear()
            self._draining = False
        for entry in entries:
            entry.fail(error)


def rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:  # pragma: no cover - connection already rolled back
            log.warning("SQLite rollback failed", exc_info=True)
