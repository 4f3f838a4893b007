"""Verify in a worker process, so ``migrate run`` puts the machine's second core to work.

The worker is started with the ``spawn`` context and opens its own backend sessions from
settings passed through the executor's pipe (never on a command line, never logged). It
verifies one table per job, reading the target back and comparing it with the export
folder's digest index of that finished table (or with the source backend). A worker
whose parent died (SIGKILL) exits by itself.
"""

from __future__ import annotations

import asyncio
import functools
import os
import pickle
import queue
import resource
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from orcheo_storage.migration.folder import FolderSource
from orcheo_storage.migration.manifest import MigrationError
from orcheo_storage.migration.sources import BackendSource, RowSource
from orcheo_storage.migration.verify import TableVerdict, verify
from orcheo_storage.plugins.registry import BackendRegistry, create_registry
from orcheo_storage.protocols.backend import BackendSession
from orcheo_storage.settings import StorageSettings


@dataclass(frozen=True)
class VerifyJob:
    """One table to verify in the worker.

    Attributes:
        table: the logical table.
        target: the target's settings (backend ``target.repository_backend``).
        folder: compare with this export folder's finished table (digest index) ...
        source: ... or, when ``folder`` is ``None``, with this source backend.
        source_name: the source's name in messages.
        max_listed: differences listed per table.
    """

    table: str
    target: StorageSettings
    folder: Path | None = None
    source: StorageSettings | None = None
    source_name: str = "source"
    max_listed: int = 100

    def __repr__(self) -> str:  # settings hold a DSN and a vault key: keep them out of logs
        return f"VerifyJob(table={self.table!r}, folder={self.folder!r})"


@dataclass(frozen=True)
class VerifyOutcome:
    verdict: TableVerdict
    peak_rss_kb: int


_registry: BackendRegistry | None = None
_progress: Any = None  # the worker's end of the progress queue
NICE = 10
PROGRESS_EVERY = 0.25  # seconds between progress messages from the worker


class _Forward:
    """The worker's reporter: rows verified go back to the main process in bunches."""

    def __init__(self) -> None:
        self._rows = 0
        self._last = time.monotonic()

    def start(self, step: str, table: str, total_rows: int) -> None:
        return None

    def advance(self, step: str, table: str, rows: int) -> None:
        self._rows += rows
        now = time.monotonic()
        if now - self._last >= PROGRESS_EVERY:
            self._send(table, now)

    def finish(self, step: str, table: str) -> None:
        self._send(table, time.monotonic())

    def note(self, message: str) -> None:
        return None

    def _send(self, table: str, now: float) -> None:
        if self._rows and _progress is not None:
            _progress.put((table, self._rows))
        self._rows, self._last = 0, now


def _init_worker(parent: int, progress: Any) -> None:
    global _progress
    _progress = progress
    _watch_parent(parent)


def _watch_parent(parent: int) -> None:
    # Verify yields the CPU to the export, the import and the target's COPY work: it
    # uses what they leave, and its tail after the import is short.
    os.nice(NICE)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _ready() -> int:
    """A no-op job: runs once the worker has imported everything (start-up done early)."""
    return os.getpid()


async def _open(settings: StorageSettings) -> BackendSession:
    global _registry
    if _registry is None:
        _registry = create_registry(strict=settings.plugins_strict)
    opened = settings.model_copy(update={"auto_migrate": False})
    return await _registry.get(opened.repository_backend).open(opened)


async def _verify_table(job: VerifyJob) -> TableVerdict:
    target = await _open(job.target)
    try:
        source_session: BackendSession | None = None
        if job.folder is not None:
            reference: RowSource = FolderSource.finished_tables(job.folder, [job.table])
        else:
            assert job.source is not None
            source_session = await _open(job.source)
            reference = BackendSource(source_session, job.source_name)
        try:
            report = await verify(
                reference,
                BackendSource(target, "target"),
                tables=[job.table],
                max_listed=job.max_listed,
                reporter=_Forward(),
            )
        finally:
            if source_session is not None:
                await source_session.close()
    finally:
        await target.close()
    return report.tables[0]


def verify_table(job: VerifyJob) -> VerifyOutcome:
    """Run in the worker: verify one table (see :class:`VerifyJob`).

    Raises:
        MigrationError, StorageError: as :func:`~orcheo_storage.migration.verify.verify`;
            an error that would not survive the trip back is raised as a MigrationError
            naming its type and message.
    """
    try:
        verdict = asyncio.run(_verify_table(job))
    except Exception as exc:
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:
            raise MigrationError(f"{type(exc).__name__}: {exc}") from None
        raise
    return VerifyOutcome(verdict, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


class VerifyPool:
    """One spawned worker process running :class:`VerifyJob` s in submission order."""

    def __init__(self) -> None:
        context = get_context("spawn")
        self._progress = context.Queue()
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=context,
            initializer=_init_worker,
            initargs=(os.getpid(), self._progress),
        )
        self._closed = False

    async def progress(self, advance: Callable[[str, int], None]) -> None:
        """Pass the worker's progress (table, rows) to ``advance`` until :meth:`close`."""
        loop = asyncio.get_running_loop()
        get = functools.partial(self._progress.get, timeout=0.2)
        try:
            while not self._closed:
                try:
                    table, rows = await loop.run_in_executor(None, get)
                except queue.Empty:
                    continue
                advance(table, rows)
        finally:
            self._progress.cancel_join_thread()
            self._progress.close()

    def warm(self) -> asyncio.Future[int]:
        """Start the worker now (its imports overlap with the export)."""
        return asyncio.get_running_loop().run_in_executor(self._pool, _ready)

    def submit(self, job: VerifyJob) -> asyncio.Future[VerifyOutcome]:
        return asyncio.get_running_loop().run_in_executor(self._pool, verify_table, job)

    def close(self, *, wait: bool) -> None:
        """Stop the worker (and :meth:`progress`); with ``wait=False`` queued jobs are dropped."""
        self._closed = True
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
