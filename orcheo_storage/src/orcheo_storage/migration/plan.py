"""Dry run: what a migration would do, computed without changing anything anywhere."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from orcheo_storage.migration.manifest import Manifest, read_journal, read_manifest
from orcheo_storage.migration.sources import CheckedSource, CheckReport, RowSource
from orcheo_storage.migration.tables import dependency_order
from orcheo_storage.protocols.backend import BackendSession


@dataclass(frozen=True)
class TablePlan:
    table: str
    rows: int
    batches: int
    exported_batches: int = 0


@dataclass
class MigrationPlan:
    source: str
    schema_version: int
    batch_size: int
    tables: list[TablePlan] = field(default_factory=list)
    target_schema_steps: list[str] = field(default_factory=list)
    target_batches_done: int = 0
    export_state: str = "absent"
    unmapped: list[str] = field(default_factory=list)
    checked: CheckReport | None = None
    """For a checked source (today's files): every row mapped, every refusal."""

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    @property
    def batches(self) -> int:
        return sum(t.batches for t in self.tables)


def _existing_manifest(folder: Path) -> Manifest | None:
    return read_manifest(folder) if folder.is_dir() else None


async def make_plan(
    source: RowSource,
    folder: Path,
    *,
    target: BackendSession | None,
    batch_size: int,
) -> MigrationPlan:
    """The plan of ``export -> import -> verify``: read-only on source, folder and target.

    ``target`` must be opened with ``auto_migrate`` off; its schema steps are only listed
    (``migrate_schema(dry_run=True)``) and its ledger only read.
    """
    manifest = _existing_manifest(folder)
    if manifest is not None:
        batch_size = manifest.batch_size
    result = MigrationPlan(
        source=source.name,
        schema_version=await source.schema_version(),
        batch_size=batch_size,
        export_state="absent"
        if manifest is None
        else ("complete" if manifest.complete else "partial (will resume)"),
        unmapped=source.unmapped(),
    )
    if isinstance(source, CheckedSource):
        result.checked = await source.check_all()
        result.unmapped = source.unmapped()
    for table in dependency_order(source.tables()):
        rows = await source.count_rows(table)
        exported = len(read_journal(folder / table)) if manifest is not None else 0
        result.tables.append(TablePlan(table, rows, math.ceil(rows / batch_size), exported))
    if target is not None:
        result.target_schema_steps = list(await target.migrate_schema(dry_run=True))
        if not result.target_schema_steps:
            result.target_batches_done = len(await target.bulk().imported_batches())
    return result
