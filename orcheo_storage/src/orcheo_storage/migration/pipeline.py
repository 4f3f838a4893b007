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
from dataclasses import dataclass, field
from pathlib import Path

from orcheo_storage.jsoncodec import JsonObject
from orcheo_storage.migration.export import ExportResult, export
from orcheo_storage.migration.folder import parse_batch, read_batch
from orcheo_storage.migration.importer import BatchFeeder, ImportResult
from orcheo_storage.migration.manifest import BatchEntry, TableEntry, read_manifest
from orcheo_storage.migration.progress import Reporter
from orcheo_storage.migration.rejects import RejectFile
from orcheo_storage.migration.sources import RowSource
from orcheo_storage.migration.tables import dependency_order
from orcheo_storage.migration.verify import TableVerdict
from orcheo_storage.migration.workers import VerifyJob, VerifyOutcome, VerifyPool
from orcheo_storage.protocols.backend import BulkTransfer
from orcheo_storage.settings import StorageSettings


@dataclass(frozen=True)
class _Batch:
    table: str
    entry: BatchEntry
    rows: list[JsonObject] | None


@dataclass(frozen=True)
class _TableDone:
    table: str
    entry: TableEntry


@dataclass(frozen=True)
class _End:
    result: ExportResult


class _Stop:
    pass


_Event = _Batch | _TableDone | _End | _Stop


class _QueueHook:
    """The export's hook: every journaled batch and finished table go to the queue."""

    def __init__(self, queue: asyncio.Queue[_Event]) -> None:
        self._queue = queue

    async def batch(self, table: str, entry: BatchEntry, rows: list[JsonObject] | None) -> None:
        await self._queue.put(_Batch(table, entry, rows))
        await asyncio.sleep(0)  # let the import hand the batch over while we export the next

    async def table_done(self, table: str, entry: TableEntry) -> None:
        await self._queue.put(_TableDone(table, entry))


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


@dataclass
class PipelineResult:
    exported: ExportResult
    imported: ImportResult
    verdicts: list[TableVerdict] | None  # None: verify was left to the caller
    seconds: dict[str, float] = field(default_factory=dict)
    worker_peak_rss_kb: int = 0


class _Importer:
    """The import side: takes queue events and feeds the target, table by table."""

    def __init__(
        self,
        folder: Path,
        feeder: BatchFeeder,
        on_table: list[str],
    ) -> None:
        self._folder = folder
        self._feeder = feeder
        self._current: str | None = None
        self._seen: set[int] = set()
        self._counts: dict[str, int] | None = None
        self.finished = on_table  # tables whose import is committed, in order
        self.first_batch: float | None = None

    def _begin(self, table: str) -> None:
        if self._counts is None:
            manifest = read_manifest(self._folder)
            self._counts = dict(manifest.fingerprint.counts) if manifest else {}
        self._current = table
        self._seen = set()
        self._feeder.start(table, self._counts.get(table, 0))

    async def _batch(self, table: str, entry: BatchEntry, rows: list[JsonObject] | None) -> None:
        if self._current != table:
            self._begin(table)
        self._seen.add(entry.batch)
        if not self._feeder.pending(table, entry):
            self._feeder.skip(entry)
            return
        if self.first_batch is None:
            self.first_batch = time.perf_counter()
        if rows is None:  # exported by an earlier run: from its checked file
            rows = parse_batch(read_batch(self._folder, table, entry), table, entry)
        await self._feeder.add(entry, rows)

    async def _table_done(self, entry: TableEntry) -> None:
        if self._current != entry.name:
            self._begin(entry.name)
        self._feeder.counts.source = entry.rows
        for batch in entry.batches:
            if batch.batch not in self._seen:
                await self._batch(entry.name, batch, None)
        await self._feeder.finish()
        self._current = None
        self.finished.append(entry.name)

    async def handle(self, event: _Batch | _TableDone) -> None:
        if isinstance(event, _Batch):
            await self._batch(event.table, event.entry, event.rows)
        else:
            await self._table_done(event.entry)

    async def end(self, result: ExportResult) -> None:
        """The export is complete: import what it did not announce (an export finished before)."""
        by_name = {t.name: t for t in result.manifest.tables}
        for table in dependency_order(list(by_name)):
            if table not in self.finished:
                await self._table_done(by_name[table])


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
    queue_batches: int = 2,
) -> PipelineResult:
    """Export ``source`` into ``folder`` while importing into ``target`` and verifying.

    ``seconds`` holds each step's own wall time (they overlap) and ``pipeline``, the
    whole. ``verdicts`` is ``None`` when ``plan`` keeps verify in this process: the
    caller then verifies after this returns.

    Raises:
        SourceChangedError, BatchCorruptError, BadRowError, MigrationError: as the steps.
    """
    started = time.perf_counter()
    queue: asyncio.Queue[_Event] = asyncio.Queue(maxsize=max(1, queue_batches))
    imported = ImportResult()
    feeder = BatchFeeder(
        target,
        await target.imported_batches(),
        imported,
        rejects=RejectFile(reject_file) if reject_file is not None else None,
        max_rejects=max_rejects,
        streams=streams,
        reporter=reporter,
    )
    pool = VerifyPool() if plan.in_worker else None
    verifying: list[tuple[str, asyncio.Future[VerifyOutcome]]] = []
    finished: list[str] = []
    importer = _Importer(folder, feeder, finished)
    seconds: dict[str, float] = {}
    stopping = False

    def schedule_verify() -> None:
        assert pool is not None
        for table in finished[len(verifying) :]:
            verifying.append((table, pool.submit(plan.job(table))))
            reporter.start("verify", table, feeder.counts_of(table).source)

    async def produce() -> ExportResult:
        nonlocal stopping
        try:
            result = await export(
                source,
                folder,
                batch_size=batch_size,
                fresh=fresh,
                reporter=reporter,
                hook=_QueueHook(queue),
            )
        except BaseException:
            stopping = True
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(_Stop())
            raise
        finally:
            seconds["export"] = time.perf_counter() - started
        await queue.put(_End(result))
        return result

    async def consume() -> None:
        try:
            while True:
                event = await queue.get()
                if stopping or isinstance(event, _Stop):
                    return
                if isinstance(event, _End):
                    await importer.end(event.result)
                    if pool is not None:
                        schedule_verify()
                    return
                await importer.handle(event)
                if pool is not None:
                    schedule_verify()
        finally:
            await feeder.settle()  # batches handed over finish (atomically) first
            seconds["import"] = time.perf_counter() - (importer.first_batch or started)

    if pool is not None:
        warm = pool.warm()
    ok = False
    try:
        exporting = asyncio.create_task(produce())
        importing = asyncio.create_task(consume())
        await asyncio.wait({exporting, importing}, return_when=asyncio.FIRST_EXCEPTION)
        if importing.done() and importing.exception() is not None and not exporting.done():
            exporting.cancel()
        await asyncio.wait({exporting, importing})
        for task in (exporting, importing):  # the export's error first: it is the cause
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        exported = exporting.result()
        verdicts: list[TableVerdict] | None = None
        peak = 0
        if pool is not None:
            await warm
            verify_started = time.perf_counter()
            verdicts = []
            for table, future in verifying:
                outcome = await future
                verdicts.append(outcome.verdict)
                peak = max(peak, outcome.peak_rss_kb)
                reporter.advance("verify", table, outcome.verdict.source_rows)
                reporter.finish("verify", table)
            seconds["verify_after_import"] = time.perf_counter() - verify_started
        ok = True
    finally:
        if pool is not None:
            pool.close(wait=ok)
    seconds["pipeline"] = time.perf_counter() - started
    return PipelineResult(exported, imported, verdicts, seconds, peak)
