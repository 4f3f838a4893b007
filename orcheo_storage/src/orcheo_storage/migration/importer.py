"""Import: load a finished export folder into a target, exactly once per batch."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from orcheo_storage.errors import ConflictError, NotFoundError, StorageError, ValidationError
from orcheo_storage.jsoncodec import JsonObject
from orcheo_storage.migration.canonical import key_text, row_key
from orcheo_storage.migration.folder import FolderSource, parse_batch, read_batch
from orcheo_storage.migration.manifest import BatchEntry, MigrationError
from orcheo_storage.migration.progress import NullReporter, Reporter
from orcheo_storage.migration.rejects import RejectFile
from orcheo_storage.migration.tables import TABLES_BY_NAME, dependency_order
from orcheo_storage.protocols.backend import BulkTransfer

BAD_ROW_ERRORS: tuple[type[StorageError], ...] = (ValidationError, ConflictError, NotFoundError)
"""Errors that mean "this row cannot go in"; anything else (server down...) stops the import."""


class BadRowError(MigrationError):
    """The target refused a row and no reject file was given (or the limit was reached)."""

    def __init__(self, table: str, key: str, reason: str, hint: str = "") -> None:
        self.table = table
        self.key = key
        self.reason = reason
        self.hint = hint
        super().__init__(f"bad row in {table} (key {key}): {reason}{hint}")

    def __reduce__(self) -> tuple[type[BadRowError], tuple[str, str, str, str]]:
        # Crosses from the import worker process intact.
        return (type(self), (self.table, self.key, self.reason, self.hint))


@dataclass
class TableCounts:
    """Per-table accounting: ``imported + already + rejected == source``."""

    source: int = 0
    imported: int = 0
    already: int = 0
    rejected: int = 0

    @property
    def adds_up(self) -> bool:
        return self.imported + self.already + self.rejected == self.source


@dataclass
class ImportResult:
    tables: dict[str, TableCounts] = field(default_factory=dict)
    batches_imported: int = 0
    batches_skipped: int = 0

    @property
    def rejected(self) -> int:
        return sum(c.rejected for c in self.tables.values())


def _key_of(table: str) -> tuple[str, ...]:
    spec = TABLES_BY_NAME.get(table)
    return spec.key if spec else ("id",)


class BatchFeeder:
    """Hands one table's batches to the target, ``streams`` at a time, exactly once each.

    Shared by :func:`import_folder` (batches read from the folder) and ``migrate run``'s
    pipeline (batches taken from the rows the export has in hand). A batch whose id is in
    the ledger is skipped; :meth:`finish` waits until every batch handed over is committed
    (or has failed atomically) before it returns or raises.
    """

    def __init__(
        self,
        target: BulkTransfer,
        done: set[str],
        result: ImportResult,
        *,
        rejects: RejectFile | None,
        max_rejects: int,
        streams: int,
        reporter: Reporter,
    ) -> None:
        if streams < 1:
            raise MigrationError("streams must be at least 1")
        self._target = target
        self._done = done
        self._result = result
        self._rejects = rejects
        self._max_rejects = max_rejects
        self._streams = streams
        self._reporter = reporter
        self._in_flight: set[asyncio.Task[None]] = set()
        self._table = ""
        self._counts = TableCounts()

    def start(self, table: str, rows: int) -> None:
        """Begin ``table`` (its source row count is ``rows``)."""
        self._table = table
        self._counts = self._result.tables.setdefault(table, TableCounts(source=rows))
        self._reporter.start("import", table, rows)

    @property
    def counts(self) -> TableCounts:
        """The counts of the table being imported."""
        return self._counts

    def counts_of(self, table: str) -> TableCounts:
        return self._result.tables.setdefault(table, TableCounts())

    def pending(self, table: str, entry: BatchEntry) -> bool:
        """Whether the batch still has to go in (its id is not in the ledger)."""
        return entry.batch_id(table) not in self._done

    def skip(self, entry: BatchEntry) -> None:
        """Count a batch the ledger already holds."""
        batch_id = entry.batch_id(self._table)
        earlier = self._rejects.per_batch.get(batch_id, 0) if self._rejects else 0
        self._counts.already += entry.rows - earlier
        self._counts.rejected += earlier
        self._result.batches_skipped += 1
        self._reporter.advance("import", self._table, entry.rows)

    async def add(self, entry: BatchEntry, rows: list[JsonObject]) -> None:
        """Hand a batch to the target; waits while ``streams`` batches are in flight."""
        self._in_flight.add(
            asyncio.create_task(
                _import_batch(
                    self._target,
                    self._table,
                    entry,
                    rows,
                    self._done,
                    self._counts,
                    self._rejects,
                    self._max_rejects,
                )
            )
        )
        self._result.batches_imported += 1
        self._reporter.advance("import", self._table, entry.rows)
        while len(self._in_flight) >= self._streams:
            finished, self._in_flight = await asyncio.wait(
                self._in_flight, return_when=asyncio.FIRST_COMPLETED
            )
            for task in finished:
                task.result()

    async def settle(self) -> None:
        """Wait for every batch in flight (each is atomic), without raising their errors."""
        if self._in_flight:
            await asyncio.wait(self._in_flight)

    async def finish(self) -> None:
        """Wait until every batch of the table is committed; raise the first failure."""
        try:
            while self._in_flight:
                finished, self._in_flight = await asyncio.wait(
                    self._in_flight, return_when=asyncio.FIRST_COMPLETED
                )
                for task in finished:
                    task.result()
        finally:
            # Batches already handed to the target finish before an error propagates, so
            # the ledger is never left guessing.
            await self.settle()
        self._reporter.finish("import", self._table)


async def import_folder(
    target: BulkTransfer,
    folder: Path,
    *,
    reject_file: Path | None = None,
    max_rejects: int = 0,
    tables: list[str] | None = None,
    streams: int = 2,
    reporter: Reporter | None = None,
) -> ImportResult:
    """Import every batch of ``folder`` into ``target``, parents before children.

    Each batch's SHA-256 is checked before it is read, and the batch goes in through
    ``target.import_batch`` with ``batch_id = "{table}:{batch}:{sha256}"``, which the
    target commits together with its ledger row, so re-running after a kill imports every
    batch exactly once. When the target refuses a batch, its rows are retried one by one
    (ids ``"{batch_id}#{row}"``) to find the bad rows; the batch id is then recorded with
    an empty batch.

    Args:
        target: the target's bulk hooks (its schema already migrated).
        folder: a finished export folder.
        reject_file: where refused rows go (mode 0600); ``None`` stops at the first one.
        max_rejects: how many rejected rows (over all runs into this reject file) are allowed.
        tables: a subset of tables (default: all of the export).
        streams: batches of one table in flight at once (tables still go parents first).
        reporter: progress sink.

    Returns:
        Per-table counts, which always add up to the source counts.

    Raises:
        BadRowError: a row was refused (naming table, key and reason) without a reject
            file, or beyond ``max_rejects``.
        BatchCorruptError: a batch file does not match the manifest.
    """
    if streams < 1:
        raise MigrationError("streams must be at least 1")
    reporter = reporter or NullReporter()
    source = FolderSource(folder)
    rejects = RejectFile(reject_file) if reject_file is not None else None
    result = ImportResult()
    feeder = BatchFeeder(
        target,
        await target.imported_batches(),
        result,
        rejects=rejects,
        max_rejects=max_rejects,
        streams=streams,
        reporter=reporter,
    )
    for table in dependency_order(tables or source.tables()):
        entry_table = source.table(table)
        feeder.start(table, entry_table.rows)
        try:
            for entry in entry_table.batches:
                if not feeder.pending(table, entry):
                    feeder.skip(entry)
                    continue
                # Parsing the next batch overlaps with the target committing earlier ones.
                await feeder.add(entry, parse_batch(read_batch(folder, table, entry), table, entry))
        except BaseException:
            await feeder.settle()
            raise
        await feeder.finish()
    return result


async def _import_batch(
    target: BulkTransfer,
    table: str,
    entry: BatchEntry,
    rows: list[JsonObject],
    done: set[str],
    counts: TableCounts,
    rejects: RejectFile | None,
    max_rejects: int,
) -> None:
    batch_id = entry.batch_id(table)
    try:
        if await target.import_batch(table, rows, batch_id=batch_id):
            counts.imported += len(rows)
        else:
            counts.already += len(rows)
        return
    except BAD_ROW_ERRORS:
        pass  # find the bad rows one by one below
    key = _key_of(table)
    for number, row in enumerate(rows):
        row_id = f"{batch_id}#{number}"
        if row_id in done:
            counts.already += 1
            continue
        try:
            if await target.import_batch(table, [row], batch_id=row_id):
                counts.imported += 1
            else:
                counts.already += 1
        except BAD_ROW_ERRORS as exc:
            key_value = row_key(row, key)
            reason = str(exc)
            if rejects is None:
                raise BadRowError(
                    table,
                    key_text(key_value),
                    reason,
                    "; pass --reject-file PATH --max-rejects N to set such rows aside",
                ) from exc
            if not rejects.has(batch_id, number) and rejects.total >= max_rejects:
                raise BadRowError(
                    table, key_text(key_value), reason, f"; more than {max_rejects} rejected rows"
                ) from exc
            rejects.add(table, batch_id, number, list(key_value), reason, row)
            counts.rejected += 1
    # Record the batch itself so a resumed import skips it without retrying its rows.
    await target.import_batch(table, [], batch_id=batch_id)
