"""``migrate run`` as a pipeline: export, import and verify overlap.

The export hands every batch, once it is durable and journaled, to a bounded queue (a
few batches: memory stays bounded); the import takes the rows from the queue (no
re-read, no re-decode), or from the checksum-checked file for a batch an earlier run
exported. Batch ids, the ledger and the reject accounting are those of
:func:`~orcheo_storage.migration.importer.import_folder`; a table's batches go in only
once every batch of the tables before it (parents first) is committed. When a table's
import is committed, its verify starts in a worker process (the second core) against
the export's digest index of that table, or against the source; without a worker the
verify runs after the import, in this process, as before.

A failure anywhere stops the pipeline with the error of the step that failed: batches
already handed to the target finish (each is atomic) before the error propagates, and a
killed run resumes exactly once like the separate steps.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from orcheo_storage.jsoncodec import JsonObject
from orcheo_storage.migration.export import ExportResult, export
from orcheo_storage.migration.feed import Batch, End, Event, Importer, Stop, TableDone
from orcheo_storage.migration.importer import BatchFeeder, ImportResult
from orcheo_storage.migration.manifest import BatchEntry, TableEntry
from orcheo_storage.migration.progress import Reporter
from orcheo_storage.migration.rejects import RejectFile
from orcheo_storage.migration.sources import RowSource
from orcheo_storage.migration.verify import TableVerdict
from orcheo_storage.migration.workers import VerifyJob, VerifyOutcome, VerifyPool
from orcheo_storage.protocols.backend import BulkTransfer
from orcheo_storage.settings import StorageSettings


@dataclass(frozen=True)
class VerifyPlan:
    """Where each table's verify runs: in a worker (``target`` set) or afterwards here.

    Attributes:
        target: the target's settings for the worker (``None``: verify in this process).
        folder: the worker compares with the export folder (else with ``source``).
        source: the source's settings, when the worker compares with the source.
        source_name: the source's name in messages.
    """

    target: StorageSettings | None
    folder: Path | None
    source: StorageSettings | None = None
    source_name: str = "source"

    @property
    def in_worker(self) -> bool:
        return self.target is not None and (self.folder is not None or self.source is not None)

    def job(self, table: str) -> VerifyJob:
        assert self.target is not None
        return VerifyJob(table, self.target, self.folder, self.source, self.source_name)

    def __repr__(self) -> str:
        return f"VerifyPlan(in_worker={self.in_worker}, folder={self.folder!r})"


class _ImportSide:
    """The import, fed through a bounded asyncio queue."""

    def __init__(self, target: BulkTransfer, folder: Path, options: _Options) -> None:
        self._target = target
        self._folder = folder
        self._options = options
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=max(1, options.queue_batches))
        self._stopping = False

    async def put(self, event: Event) -> None:
        await self._queue.put(event)
        await asyncio.sleep(0)  # let the import hand the batch over while we export the next

    async def stop(self) -> None:
        self._stopping = True
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(Stop())

    async def run(self, on_table: Callable[[str], None]) -> ImportResult:
        result = ImportResult()
        options = self._options
        feeder = BatchFeeder(
            self._target,
            await self._target.imported_batches(),
            result,
            rejects=RejectFile(options.reject_file) if options.reject_file is not None else None,
            max_rejects=options.max_rejects,
            streams=options.streams,
            reporter=options.reporter,
        )
        importer = Importer(self._folder, feeder, on_table)
        try:
            while True:
                event = await self._queue.get()
                if self._stopping or isinstance(event, Stop):
                    return result
                if isinstance(event, End):
                    await importer.end(event.tables)
                    return result
                await importer.handle(event)
        finally:
            await feeder.settle()  # batches handed over finish (atomically) first


class _Hook:
    """The export's hook: every journaled batch and finished table go to the import."""

    def __init__(self, side: _ImportSide, rows: dict[str, int]) -> None:
        self._side = side
        self._rows = rows

    async def batch(self, table: str, entry: BatchEntry, rows: list[JsonObject] | None) -> None:
        await self._side.put(Batch(table, entry, rows))

    async def table_done(self, table: str, entry: TableEntry) -> None:
        self._rows[table] = entry.rows
        await self._side.put(TableDone(table, entry))


@dataclass(frozen=True)
class _Options:
    reject_file: Path | None
    max_rejects: int
    streams: int
    queue_batches: int
    reporter: Reporter


@dataclass
class PipelineResult:
    exported: ExportResult
    imported: ImportResult
    verdicts: list[TableVerdict] | None  # None: verify was left to the caller
    seconds: dict[str, float] = field(default_factory=dict)
    worker_peak_rss_kb: int = 0


async def run_pipeline(
    source: RowSource,
    target: BulkTransfer,
    folder: Path,
    *,
    plan: VerifyPlan,
    batch_size: int,
    fresh: bool,
    reject_file: Path | None,
    max_rejects: int,
    streams: int,
    reporter: Reporter,
    queue_batches: int = 1,
) -> PipelineResult:
    """Export ``source`` into ``folder`` while importing into ``target`` and verifying.

    ``queue_batches`` batches wait between the export and the import (the import keeps
    ``streams`` more in flight). ``seconds`` holds when the export and the import ended (from the start), the
    verify's tail after the import and
    ``pipeline``, the whole. ``verdicts`` is ``None`` when ``plan`` keeps verify in this
    process: the caller then verifies after this returns.

    Raises:
        SourceChangedError, BatchCorruptError, BadRowError, MigrationError: as the steps.
    """
    started = time.perf_counter()
    options = _Options(reject_file, max_rejects, streams, queue_batches, reporter)
    side = _ImportSide(target, folder, options)
    pool = VerifyPool() if plan.in_worker else None
    verifying: list[tuple[str, asyncio.Future[VerifyOutcome]]] = []
    rows: dict[str, int] = {}
    seconds: dict[str, float] = {}

    verified: dict[str, int] = {}  # rows reported so far per table being verified

    def on_table(table: str) -> None:
        if pool is not None:
            verifying.append((table, pool.submit(plan.job(table))))
            reporter.start("verify", table, rows.get(table, 0))
            verified[table] = 0

    def advance_verify(table: str, count: int) -> None:
        if table in verified:  # not after its verdict (late progress is dropped)
            verified[table] += count
            reporter.advance("verify", table, count)

    async def produce() -> ExportResult:
        try:
            result = await export(
                source,
                folder,
                batch_size=batch_size,
                fresh=fresh,
                reporter=reporter,
                hook=_Hook(side, rows),
            )
        except BaseException:
            await side.stop()
            raise
        finally:
            seconds["export"] = time.perf_counter() - started
        for entry in result.manifest.tables:
            rows.setdefault(entry.name, entry.rows)
        await side.put(End(list(result.manifest.tables)))
        return result

    async def consume() -> ImportResult:
        try:
            return await side.run(on_table)
        finally:
            seconds["import"] = time.perf_counter() - started

    warm = pool.warm() if pool is not None else None
    progress = asyncio.create_task(pool.progress(advance_verify)) if pool is not None else None
    ok = False
    try:
        exporting = asyncio.create_task(produce())
        importing = asyncio.create_task(consume())
        await asyncio.wait({exporting, importing}, return_when=asyncio.FIRST_EXCEPTION)
        if importing.done() and importing.exception() is not None and not exporting.done():
            exporting.cancel()
        await asyncio.wait({exporting, importing})
        for task in (exporting, importing):  # the export's error first: it is the cause
            error = None if task.cancelled() else task.exception()
            if error is not None:
                raise error
        exported, imported = exporting.result(), importing.result()
        verdicts: list[TableVerdict] | None = None
        peak = 0
        if pool is not None:
            assert warm is not None
            await warm
            verify_started = time.perf_counter()
            verdicts = []
            for table, future in verifying:
                outcome = await future
                verdicts.append(outcome.verdict)
                peak = max(peak, outcome.peak_rss_kb)
                rest = outcome.verdict.source_rows - verified.pop(table, 0)
                if rest > 0:
                    reporter.advance("verify", table, rest)
                reporter.finish("verify", table)
            seconds["verify_after_import"] = time.perf_counter() - verify_started
        ok = True
    finally:
        if pool is not None:
            pool.close(wait=ok)
        if progress is not None:
            await progress
    seconds["pipeline"] = time.perf_counter() - started
    return PipelineResult(exported, imported, verdicts, seconds, peak)
