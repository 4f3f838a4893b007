"""Applying one sync generation to a target exactly once, and verifying what it changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orcheo_storage.jsoncodec import JsonObject, JsonValue
from orcheo_storage.migration.canonical import key_text, row_digest, row_key
from orcheo_storage.migration.importer import BAD_ROW_ERRORS, BadRowError
from orcheo_storage.migration.progress import Reporter
from orcheo_storage.migration.sync_files import DeltaBatch, TableDelta, read_checked
from orcheo_storage.migration.verify import (
    Difference,
    Kind,
    TableVerdict,
    VerifyReport,
    changed_columns,
)
from orcheo_storage.migration.versions import logical_key
from orcheo_storage.protocols.backend import BulkTransfer

FETCH_CHUNK = 500


def _objects(items: list[JsonValue]) -> list[JsonObject]:
    rows = [item for item in items if isinstance(item, dict)]
    if len(rows) != len(items):
        raise BadRowError("?", "?", "an upsert line is not a JSON object")
    return rows


def _keys(items: list[JsonValue]) -> list[list[JsonValue]]:
    return [item if isinstance(item, list) else [item] for item in items]


async def _apply_batch(
    target: BulkTransfer,
    table: str,
    batch: DeltaBatch,
    items: list[JsonValue],
    batch_id: str,
    done: set[str],
) -> None:
    upserts = _objects(items) if batch.kind == "upserts" else []
    deletes = _keys(items) if batch.kind == "deletes" else []
    try:
        await target.apply_changes(table, upserts, deletes, batch_id=batch_id)
        return
    except BAD_ROW_ERRORS:
        pass  # find the row the target refuses, one by one
    key = logical_key(table)
    for number in range(len(items)):
        row_id = f"{batch_id}#{number}"
        if row_id in done:
            continue
        one_up, one_del = upserts[number : number + 1], deletes[number : number + 1]
        try:
            await target.apply_changes(table, one_up, one_del, batch_id=row_id)
        except BAD_ROW_ERRORS as exc:
            shown = row_key(one_up[0], key) if one_up else tuple(one_del[0])
            raise BadRowError(table, key_text(shown), str(exc)) from exc
    await target.apply_changes(table, [], [], batch_id=batch_id)


async def apply_generation(
    target: BulkTransfer,
    gen_dir: Path,
    generation: int,
    tables: list[TableDelta],
    reporter: Reporter,
) -> tuple[int, int]:
    """Deletes children-first, then upserts parents-first; returns (applied, skipped) batches.

    Raises:
        BadRowError: the target refused a row (named by table and key); nothing of that
            row went in, and running the sync again resumes after the rows that did.
        BatchCorruptError: a delta file was altered.
    """
    done = await target.imported_batches()
    applied = skipped = 0
    plan = [(t, b) for t in reversed(tables) for b in t.batches if b.kind == "deletes"]
    plan += [(t, b) for t in tables for b in t.batches if b.kind == "upserts"]
    for table, batch in plan:
        batch_id = batch.batch_id(generation, table.name)
        step = f"sync {batch.kind}"
        if batch_id in done:
            skipped += 1
            continue
        reporter.start(step, table.name, batch.rows)
        items = read_checked(gen_dir / table.name / batch.file_name(), batch.sha256, parse=True)
        await _apply_batch(target, table.name, batch, items, batch_id, done)
        reporter.advance(step, table.name, batch.rows)
        reporter.finish(step, table.name)
        applied += 1
    return applied, skipped


def _hashable(key: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(repr(part) if isinstance(part, list | dict) else part for part in key)


async def _fetch(
    target: BulkTransfer, table: str, keys: list[list[JsonValue]]
) -> dict[tuple[Any, ...], JsonObject]:
    key = logical_key(table)
    found: dict[tuple[Any, ...], JsonObject] = {}
    for start in range(0, len(keys), FETCH_CHUNK):
        for row in await target.fetch_rows(table, keys[start : start + FETCH_CHUNK]):
            found[_hashable(row_key(row, key))] = row
    return found


async def verify_generation(
    target: BulkTransfer,
    gen_dir: Path,
    tables: list[TableDelta],
    reporter: Reporter,
    *,
    max_listed: int = 100,
) -> VerifyReport:
    """Row counts of every table, and every changed key read back from the target.

    A row sent as an upsert must be in the target with the same canonical digest; a
    deleted key (not sent again later) must be absent; the target's row count must
    equal the source's count at the scan.
    """
    report = VerifyReport()
    for table in tables:
        verdict = TableVerdict(table.name, source_rows=table.rows)
        report.tables.append(verdict)
        verdict.target_rows = await target.count_rows(table.name)
        key = logical_key(table.name)

        def note(diff: Difference, verdict: TableVerdict = verdict) -> None:
            verdict.differences += 1
            if len(verdict.listed) < max_listed:
                verdict.listed.append(diff)

        reporter.start("sync verify", table.name, sum(b.rows for b in table.batches))
        # Deleted keys still in the target: normally none. A key both deleted and sent
        # again (a row that now maps to another source key) is settled by the upserts.
        lingering: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        for batch in (b for b in table.batches if b.kind == "deletes"):
            items = read_checked(gen_dir / table.name / batch.file_name(), batch.sha256, parse=True)
            for k in await _fetch(target, table.name, _keys(items)):
                lingering[k] = k
            reporter.advance("sync verify", table.name, batch.rows)
        for batch in (b for b in table.batches if b.kind == "upserts"):
            rows = _objects(
                read_checked(gen_dir / table.name / batch.file_name(), batch.sha256, parse=True)
            )
            found = await _fetch(target, table.name, [list(row_key(row, key)) for row in rows])
            for row in rows:
                k = row_key(row, key)
                lingering.pop(_hashable(k), None)
                there = found.get(_hashable(k))
                if there is None:
                    note(Difference(table.name, key_text(k), Kind.MISSING))
                elif row_digest(there) != row_digest(row):
                    note(
                        Difference(
                            table.name, key_text(k), Kind.CHANGED, changed_columns(row, there)
                        )
                    )
            reporter.advance("sync verify", table.name, batch.rows)
        for k in lingering.values():
            note(Difference(table.name, key_text(k), Kind.EXTRA))
        reporter.finish("sync verify", table.name)
    return report
