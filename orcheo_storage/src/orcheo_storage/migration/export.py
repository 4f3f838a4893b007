"""Export: stream a source's logical tables into a resumable folder of checksummed batches."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from orcheo_storage.jsoncodec import JsonObject
from orcheo_storage.migration.canonical import encode_line, line_and_digest, row_key
from orcheo_storage.migration.files import remove_temporaries, write_atomic
from orcheo_storage.migration.folder import DONE
from orcheo_storage.migration.manifest import (
    JOURNAL,
    SORTED_LINES,
    BatchEntry,
    Fingerprint,
    Manifest,
    MigrationError,
    SourceChangedError,
    TableEntry,
    append_journal,
    batch_file_name,
    read_journal,
    read_manifest,
    write_manifest,
)
from orcheo_storage.migration.progress import NullReporter, Reporter
from orcheo_storage.migration.sources import CheckedSource, RowSource
from orcheo_storage.migration.tables import TABLES_BY_NAME, dependency_order
from orcheo_storage.migration.versions import (
    version_line,
    versioned_rows,
    versions_kind,
)


class ExportHook(Protocol):
    """Receives the export's progress as it happens (``migrate run`` feeds its import from it).

    ``batch`` is awaited once a batch is durable and journaled, with the rows in hand when
    this run wrote the batch, or ``None`` when an earlier run did (read it from its file).
    ``table_done`` is awaited once a table's ``done.json`` is written (also for a table an
    earlier run finished, whose batches were then not announced one by one).
    """

    async def batch(self, table: str, entry: BatchEntry, rows: list[JsonObject] | None) -> None: ...

    async def table_done(self, table: str, entry: TableEntry) -> None: ...


@dataclass
class ExportResult:
    """What an export run did."""

    manifest: Manifest
    rows_written: int = 0
    rows_skipped: int = 0
    bytes_written: int = 0
    resumed: bool = False
    tables: dict[str, int] = field(default_factory=dict)


async def fingerprint(source: RowSource) -> Fingerprint:
    """The source's schema version and per-table row counts (highest keys come later)."""
    counts = {table: await source.count_rows(table) for table in source.tables()}
    return Fingerprint(
        source=source.name, schema_version=await source.schema_version(), counts=counts
    )


def _refuse(message: str, diffs: list[str]) -> SourceChangedError:
    detail = "; ".join(diffs[:10]) + (f"; and {len(diffs) - 10} more" if len(diffs) > 10 else "")
    return SourceChangedError(
        f"{message}: {detail}. Refusing to resume; export again into an empty folder "
        "(or pass fresh=True / --fresh to discard the partial export)."
    )


def _prepare_folder(folder: Path, fresh: bool) -> Manifest | None:
    if folder.exists() and not folder.is_dir():
        raise MigrationError(f"export folder {folder} exists and is not a folder")
    # Batches hold token hashes and ciphertext: owner-only folder and files.
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    existing = read_manifest(folder)
    if existing is not None and fresh:
        for child in folder.iterdir():
            if child.is_dir():
                for item in child.iterdir():
                    item.unlink()
                child.rmdir()
            else:
                child.unlink()
        return None
    if existing is None and any(folder.iterdir()):
        raise MigrationError(f"export folder {folder} is not empty and holds no export manifest")
    return existing


async def export(
    source: RowSource,
    folder: Path,
    *,
    batch_size: int = 5000,
    fresh: bool = False,
    reporter: Reporter | None = None,
    hook: ExportHook | None = None,
) -> ExportResult:
    """Export every table of ``source`` into ``folder`` (resuming a killed export).

    Each batch file is written under a temporary name, fsynced and renamed, then recorded
    in the table's journal; a resumed export re-reads the source, checks that every batch
    already exported still has the same SHA-256, and writes only the missing ones.

    Args:
        source: where rows come from (never written to).
        folder: the export folder (created when missing).
        batch_size: rows per batch file.
        fresh: discard a previous partial export in ``folder`` instead of resuming it.
        reporter: progress sink.
        hook: receives each journaled batch and each finished table (see :class:`ExportHook`).

    Returns:
        The completed manifest and counts of what this run wrote.

    Raises:
        SourceChangedError: the source differs from the one a partial export started from,
            or changed while this export ran.
        MigrationError: the folder is unusable.
    """
    if batch_size < 1:
        raise MigrationError("batch size must be at least 1")
    reporter = reporter or NullReporter()
    existing = _prepare_folder(folder, fresh)
    current = await fingerprint(source)
    result = ExportResult(
        manifest=existing
        or Manifest(batch_size=batch_size, fingerprint=current, line_keys=SORTED_LINES)
    )
    if existing is not None:
        diffs = existing.fingerprint.differences(current)
        if existing.fingerprint.source != current.source:
            diffs.insert(0, f"source {existing.fingerprint.source!r} -> {current.source!r}")
        if diffs:
            raise _refuse("the source changed since this export started", diffs)
        if existing.complete:
            result.resumed = True
            return result
        if existing.line_keys != SORTED_LINES:
            raise MigrationError(
                f"the partial export in {folder} was started by an earlier orcheo-storage "
                "(batch lines in another key order), so its batches cannot be matched; finish "
                "it with that version, or export again with fresh=True / --fresh"
            )
        batch_size = existing.batch_size
        result.resumed = True
    else:
        write_manifest(folder, result.manifest)
        write_versions_kind(folder, versions_kind(source))

    tables: list[TableEntry] = []
    for table in dependency_order(source.tables()):
        entry = await _export_table(
            source, folder, table, batch_size, current, reporter, result, hook
        )
        tables.append(entry)
        result.tables[table] = entry.rows

    after = await fingerprint(source)
    diffs = current.differences(after)
    if diffs:
        raise _refuse("the source changed while it was being exported", diffs)
    final_print = current.model_copy(
        update={"highest_keys": {t.name: t.highest_key for t in tables}}
    )
    manifest = Manifest(
        complete=True,
        line_keys=SORTED_LINES,
        batch_size=batch_size,
        fingerprint=final_print,
        tables=tables,
        unmapped=source.unmapped(),
        accounting=source.accounting() if isinstance(source, CheckedSource) else {},
    )
    write_manifest(folder, manifest)
    result.manifest = manifest
    return result


async def _export_table(
    source: RowSource,
    folder: Path,
    table: str,
    batch_size: int,
    print_: Fingerprint,
    reporter: Reporter,
    result: ExportResult,
    hook: ExportHook | None = None,
) -> TableEntry:
    table_dir = folder / table
    table_dir.mkdir(mode=0o700, exist_ok=True)
    remove_temporaries(table_dir)
    done_path = table_dir / DONE
    if done_path.exists():
        finished = TableEntry.model_validate_json(done_path.read_bytes())
        result.rows_skipped += finished.rows
        if hook is not None:
            await hook.table_done(table, finished)
        return finished
    journal = read_journal(table_dir)
    # Rewrite the journal without a torn tail so later appends start on a clean line.
    write_atomic(
        table_dir / JOURNAL, b"".join((e.model_dump_json() + "\n").encode() for e in journal)
    )
    key = TABLES_BY_NAME[table].key if table in TABLES_BY_NAME else ("id",)
    expected = print_.counts.get(table, 0)
    reporter.start("export", table, expected)
    batches: list[BatchEntry] = []
    rows_total = 0
    last_key: list[object] | None = None
    # A source without versions of its own is versioned by the digests computed below.
    async for lazy in versioned_rows(source, table, batch_size=batch_size, digests=False):
        if not lazy:
            continue
        rows = [thunk() for _, _, thunk in lazy]
        number = len(batches)
        encoded = [line_and_digest(row) for row in rows]
        data = b"".join(line for line, _ in encoded)
        digest = hashlib.sha256(data).hexdigest()
        if number < len(journal):
            done = journal[number]
            if done.sha256 != digest or done.rows != len(rows):
                raise _refuse(
                    "the source changed since this export started",
                    [f"{table} batch {number} no longer matches the exported file"],
                )
            result.rows_skipped += len(rows)
            batches.append(done)
            if hook is not None:
                await hook.batch(table, done, None)
        else:
            # Canonical digests now, from the rows in hand, spare verify decoding this side.
            keys = [row_key(row, key) for row in rows]
            digests = [row_digest for _, row_digest in encoded]
            index = b"".join(encode_line([*k, d.hex()]) for k, d in zip(keys, digests, strict=True))
            versions = b"".join(
                version_line(source_key, k, version or d)
                for (source_key, version, _), k, d in zip(lazy, keys, digests, strict=True)
            )
            entry = BatchEntry(
                batch=number,
                rows=len(rows),
                sha256=digest,
                bytes=len(data),
                index_sha256=hashlib.sha256(index).hexdigest(),
                versions_sha256=hashlib.sha256(versions).hexdigest(),
            )
            write_atomic(table_dir / entry.index_name(), index)
            write_atomic(table_dir / entry.versions_name(), versions)
            write_atomic(table_dir / batch_file_name(number), data)
            append_journal(table_dir, entry)
            result.rows_written += len(rows)
            result.bytes_written += len(data)
            batches.append(entry)
            if hook is not None:
                await hook.batch(table, entry, rows)
        rows_total += len(rows)
        last_key = list(row_key(rows[-1], key))
        reporter.advance("export", table, len(rows))
    reporter.finish("export", table)
    if rows_total != expected:
        raise _refuse(
            "the source changed while it was being exported",
            [f"{table}: {expected} rows counted, {rows_total} rows read"],
        )
    if len(batches) < len(journal):
        raise _refuse(
            "the source changed since this export started",
            [f"{table}: {len(journal)} batches exported before, {len(batches)} now"],
        )
    finished = TableEntry(name=table, rows=rows_total, batches=batches, highest_key=last_key)
    write_atomic(done_path, finished.model_dump_json().encode("utf-8"))
    if hook is not None:
        await hook.table_done(table, finished)
    return finished


VERSIONS_KIND = "versions.json"


def write_versions_kind(folder: Path, kind: str) -> None:
    """Record how the export's row versions were computed (checked by a later sync)."""
    write_atomic(folder / VERSIONS_KIND, json.dumps({"kind": kind}).encode("utf-8"))


def read_versions_kind(folder: Path) -> str | None:
    """How the export in ``folder`` versioned its rows, or ``None`` (exported before versions)."""
    path = folder / VERSIONS_KIND
    if not path.exists():
        return None
    kind = json.loads(path.read_bytes()).get("kind")
    return str(kind) if kind is not None else None


def folder_size(folder: Path) -> int:
    """Total bytes of the batch files in an export folder."""
    return sum(os.path.getsize(p) for p in folder.glob("*/*.jsonl") if p.name != JOURNAL)
