"""The import side of ``migrate run``'s pipeline: export events in, batches to the target.

Shared by the pipeline's in-process import and its import worker process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from orcheo_storage.jsoncodec import JsonObject
from orcheo_storage.migration.folder import parse_batch, read_batch
from orcheo_storage.migration.importer import BatchFeeder
from orcheo_storage.migration.manifest import BatchEntry, TableEntry, read_manifest
from orcheo_storage.migration.tables import dependency_order


@dataclass(frozen=True)
class Batch:
    table: str
    entry: BatchEntry
    rows: list[JsonObject] | None


@dataclass(frozen=True)
class TableDone:
    table: str
    entry: TableEntry


@dataclass(frozen=True)
class End:
    tables: list[TableEntry]  # the complete export's tables


class Stop:
    pass


Event = Batch | TableDone | End | Stop


class Importer:
    """The import side: takes queue events and feeds the target, table by table."""

    def __init__(
        self,
        folder: Path,
        feeder: BatchFeeder,
        on_table: Callable[[str], None],
    ) -> None:
        self._folder = folder
        self._feeder = feeder
        self._current: str | None = None
        self._seen: set[int] = set()
        self._counts: dict[str, int] | None = None
        self.finished: list[str] = []  # tables whose import is committed, in order
        self._on_table = on_table

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
        self._on_table(entry.name)

    async def handle(self, event: Batch | TableDone) -> None:
        if isinstance(event, Batch):
            await self._batch(event.table, event.entry, event.rows)
        else:
            await self._table_done(event.entry)

    async def end(self, tables: list[TableEntry]) -> None:
        """The export is complete: import what it did not announce (an export finished before)."""
        by_name = {t.name: t for t in tables}
        for table in dependency_order(list(by_name)):
            if table not in self.finished:
                await self._table_done(by_name[table])
