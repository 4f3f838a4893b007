"""Incremental sync: carry the rows changed since the last copy into the target.

The cut-over with short downtime: copy everything while the source is still live (export
from a snapshot, import, verify), then freeze writes and run :func:`sync`, which moves
only what changed since. Each run is one *generation* under ``<folder>/sync/gen-NNNN/``:

1. **scan**: the source's current row versions (:mod:`~orcheo_storage.migration.versions`)
   are merged, in key order and in constant memory, with the versions of the previous
   generation (the export itself for the first sync). Rows whose version changed or that
   are new are mapped and written to ``upserts-*.jsonl`` batch files, keys that are gone to
   ``deletes-*.jsonl``; the new versions become the next generation's baseline. Every file
   goes through the same temporary-name, fsync, rename path as the export, and the
   generation's ``state.json`` is written only when every table is scanned.
2. **apply**: deletes children-first, then upserts parents-first, each batch through the
   target's ``apply_changes`` with a ledger id ``sync:<gen>:<table>:<kind>:<n>:<sha256>``,
   so a killed apply resumes exactly once. A killed scan is simply scanned again.
3. **verify**: every table's row count, and every upserted or deleted key read back from
   the target (``fetch_rows``) and compared by canonical digest with the rows sent.

Rows outside the delta need no re-reading: their versions equal those of the copy that
was verified before, and nothing but this engine writes to the target before the switch.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from orcheo_storage.jsoncodec import JsonObject, JsonValue
from orcheo_storage.migration.canonical import encode_line, row_key
from orcheo_storage.migration.export import read_versions_kind
from orcheo_storage.migration.files import fsync_dir, remove_temporaries, write_atomic
from orcheo_storage.migration.folder import load_complete_manifest
from orcheo_storage.migration.manifest import Manifest, MigrationError, SourceChangedError
from orcheo_storage.migration.progress import NullReporter, Reporter
from orcheo_storage.migration.sources import RowSource
from orcheo_storage.migration.sync_apply import apply_generation, verify_generation
from orcheo_storage.migration.sync_files import (
    DeltaBatch,
    TableDelta,
    read_checked,
)
from orcheo_storage.migration.tables import dependency_order
from orcheo_storage.migration.verify import VerifyReport
from orcheo_storage.migration.versions import (
    Key,
    key_before,
    logical_key,
    read_versions,
    version_line,
    versioned_rows,
    versions_kind,
)
from orcheo_storage.protocols.backend import BulkTransfer

SYNC_DIR = "sync"
STATE = "state.json"
VERSIONS = "versions.jsonl"


class SyncState(BaseModel):
    """A generation whose scan finished (``scanned``), and later whose batches all went in."""

    model_config = ConfigDict(frozen=True)

    generation: int
    phase: Literal["scanned", "applied"]
    kind: str
    tables: list[TableDelta] = Field(default_factory=list)


@dataclass
class SyncResult:
    """What one :func:`sync` run did."""

    generation: int
    scanned: bool
    tables: list[TableDelta]
    batches_applied: int = 0
    batches_skipped: int = 0
    verified: VerifyReport | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.verified is not None and self.verified.ok

    @property
    def changed_rows(self) -> int:
        return sum(t.changed + t.added + t.deleted for t in self.tables)


def _gen_dir(folder: Path, generation: int) -> Path:
    return folder / SYNC_DIR / f"gen-{generation:04d}"


def _generations(folder: Path) -> list[int]:
    root = folder / SYNC_DIR
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        if child.is_dir() and child.name.startswith("gen-") and child.name[4:].isdigit():
            found.append(int(child.name[4:]))
    return sorted(found)


def read_state(folder: Path, generation: int) -> SyncState | None:
    """The state of one generation, or ``None`` while its scan is unfinished."""
    path = _gen_dir(folder, generation) / STATE
    if not path.exists():
        return None
    return SyncState.model_validate_json(path.read_bytes())


def _write_state(folder: Path, state: SyncState) -> None:
    write_atomic(_gen_dir(folder, state.generation) / STATE, state.model_dump_json().encode())


def _baseline(
    folder: Path, manifest: Manifest, previous: SyncState | None, table: str
) -> Iterator[tuple[Key, Key, bytes, bytes]]:
    """The versions the target holds for ``table``: the previous generation's, else the export's."""
    if previous is not None:
        entry = next((t for t in previous.tables if t.name == table), None)
        if entry is None:
            return
        path = _gen_dir(folder, previous.generation) / table / VERSIONS
        yield from read_versions(path, entry.versions_sha256)
        return
    exported = manifest.table(table)
    for batch in exported.batches if exported else []:
        if batch.versions_sha256 is None:
            raise MigrationError(
                f"the export in {folder} has no row versions for {table} (it was written by an "
                "older version); export again to sync incrementally"
            )
        path = folder / table / batch.versions_name()
        yield from read_versions(path, batch.versions_sha256)


class _DeltaWriter:
    """Collects one table's upserts and deletes into checksummed batch files."""

    def __init__(self, table_dir: Path, batch_size: int) -> None:
        table_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.table_dir = table_dir
        self.batch_size = batch_size
        self.batches: list[DeltaBatch] = []
        self.pending: dict[str, list[JsonValue]] = {"upserts": [], "deletes": []}

    def add(self, kind: Literal["upserts", "deletes"], item: JsonValue) -> None:
        self.pending[kind].append(item)
        if len(self.pending[kind]) >= self.batch_size:
            self.flush(kind)

    def flush(self, kind: Literal["upserts", "deletes"]) -> None:
        items = self.pending[kind]
        if not items:
            return
        data = b"".join(encode_line(item) for item in items)
        number = sum(1 for b in self.batches if b.kind == kind)
        batch = DeltaBatch(
            kind=kind, batch=number, rows=len(items), sha256=hashlib.sha256(data).hexdigest()
        )
        write_atomic(self.table_dir / batch.file_name(), data)
        self.batches.append(batch)
        self.pending[kind] = []


class _VersionsOut:
    """A generation's versions file: streamed to a temporary name, renamed when complete."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = path
        self.tmp = path.with_name(f".{path.name}.tmp")
        self.handle = open(os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")  # noqa: SIM115
        self.hasher = hashlib.sha256()
        self.sha256 = ""

    def __enter__(self) -> _VersionsOut:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()

    def write(self, lines: list[bytes]) -> None:
        data = b"".join(lines)
        self.hasher.update(data)
        self.handle.write(data)

    def commit(self) -> None:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        os.replace(self.tmp, self.path)
        fsync_dir(self.path.parent)
        self.sha256 = self.hasher.hexdigest()


async def _scan_table(
    source: RowSource,
    table_dir: Path,
    table: str,
    baseline: Iterator[tuple[Key, Key, bytes, bytes]],
    batch_size: int,
    reporter: Reporter,
) -> TableDelta:
    key_columns = logical_key(table)
    writer = _DeltaWriter(table_dir, batch_size)
    versions: list[bytes] = []
    out = _VersionsOut(table_dir / VERSIONS)
    counts = {"rows": 0, "changed": 0, "added": 0, "deleted": 0}
    last: Key | None = None

    def ordered(key: Key) -> None:
        nonlocal last
        if last is not None and not key_before(last, key):
            raise MigrationError(
                f"the source returns {table} out of key order (or twice) at key {list(key)}; "
                "incremental sync needs rows in key order"
            )
        last = key

    def emit(line: bytes) -> None:
        versions.append(line)

    def gone(logical: Key) -> None:
        writer.add("deletes", list(logical))
        counts["deleted"] += 1

    reporter.start("sync scan", table, await source.count_rows(table))
    with out:
        old = next(baseline, None)
        async for lazy in versioned_rows(source, table, batch_size=batch_size):
            for source_key, version, thunk in lazy:
                ordered(source_key)
                while old is not None and key_before(old[0], source_key):
                    gone(old[1])
                    old = next(baseline, None)
                same_key = old is not None and old[0] == source_key
                if same_key and old is not None and old[2] == version:
                    emit(old[3])  # unchanged: the baseline's own line
                else:
                    row = thunk()
                    logical = row_key(row, key_columns)
                    if same_key and old is not None:
                        if tuple(old[1]) != tuple(logical):
                            gone(old[1])  # the row now maps to another logical key
                        counts["changed"] += 1
                    else:
                        counts["added"] += 1
                    writer.add("upserts", row)
                    emit(version_line(source_key, logical, version))
                if same_key:
                    old = next(baseline, None)
                counts["rows"] += 1
            out.write(versions)
            versions.clear()
            reporter.advance("sync scan", table, len(lazy))
        while old is not None:
            gone(old[1])
            old = next(baseline, None)
        out.commit()
    writer.flush("upserts")
    writer.flush("deletes")
    reporter.finish("sync scan", table)
    return TableDelta(
        name=table,
        rows=counts["rows"],
        changed=counts["changed"],
        added=counts["added"],
        deleted=counts["deleted"],
        batches=writer.batches,
        versions_sha256=out.sha256,
    )


async def _scan(
    source: RowSource,
    folder: Path,
    manifest: Manifest,
    previous: SyncState | None,
    generation: int,
    kind: str,
    batch_size: int,
    reporter: Reporter,
) -> SyncState:
    gen_dir = _gen_dir(folder, generation)
    if gen_dir.exists():
        shutil.rmtree(gen_dir)  # an unfinished scan of a killed run: scan again
    gen_dir.mkdir(mode=0o700, parents=True)
    tables: list[TableDelta] = []
    for table in dependency_order(source.tables()):
        baseline = _baseline(folder, manifest, previous, table)
        tables.append(
            await _scan_table(source, gen_dir / table, table, baseline, batch_size, reporter)
        )
    for table_dir in gen_dir.iterdir():
        remove_temporaries(table_dir)
    state = SyncState(generation=generation, phase="scanned", kind=kind, tables=tables)
    _write_state(folder, state)
    return state


async def _check_imported(target: BulkTransfer, folder: Path, manifest: Manifest) -> None:
    done = await target.imported_batches()
    missing = [
        b.batch_id(t.name)
        for t in manifest.tables
        for b in t.batches
        if b.batch_id(t.name) not in done
    ]
    if missing:
        raise MigrationError(
            f"the target has not imported the export in {folder} ({len(missing)} batches "
            f"missing, first {missing[0].split(':')[0]}); run migrate import first"
        )


async def sync(
    source: RowSource,
    target: BulkTransfer,
    folder: Path,
    *,
    batch_size: int = 2000,
    reporter: Reporter | None = None,
) -> SyncResult:
    """Carry the source's changes since the last copy into ``target`` (see the module doc).

    Args:
        source: the same source the export in ``folder`` was taken from.
        target: the target that imported that export (and every earlier sync).
        folder: the export folder; generations are kept under ``folder/sync``.
        batch_size: rows per delta batch.
        reporter: progress sink.

    Returns:
        The generation's deltas, what was applied, and the delta verification.

    Raises:
        SourceChangedError: ``source`` is not the source of the export.
        MigrationError: the export is unfinished, not imported, or has no row versions.
    """
    reporter = reporter or NullReporter()
    manifest = load_complete_manifest(folder)
    kind = versions_kind(source)
    exported_kind = read_versions_kind(folder)
    if exported_kind is None:
        raise MigrationError(
            f"the export in {folder} has no row versions (written by an older version); "
            "export again to sync incrementally"
        )
    if exported_kind != kind:
        raise MigrationError(
            f"the export in {folder} versioned rows as {exported_kind!r}, this source as "
            f"{kind!r}; sync from the same kind of source the export was taken from"
        )
    if manifest.fingerprint.source != source.name:
        raise SourceChangedError(
            f"the export in {folder} was taken from {manifest.fingerprint.source!r}, not "
            f"{source.name!r}; sync from the source of the export"
        )
    await _check_imported(target, folder, manifest)

    clock = time.perf_counter()
    generations = _generations(folder)
    states = {g: read_state(folder, g) for g in generations}
    applied = [g for g in generations if (s := states[g]) is not None and s.phase == "applied"]
    pending = next(
        (s for g in generations if (s := states[g]) is not None and s.phase == "scanned"), None
    )
    result: SyncResult
    if pending is not None:  # a killed apply: finish it, exactly once
        state = pending
        scanned = False
    else:
        previous = states[applied[-1]] if applied else None
        # The next number, or the number of a scan that a killed run left unfinished.
        latest = generations[-1] if generations else 0
        generation = latest if latest and states[latest] is None else latest + 1
        state = await _scan(
            source, folder, manifest, previous, generation, kind, batch_size, reporter
        )
        scanned = True
    result = SyncResult(generation=state.generation, scanned=scanned, tables=state.tables)
    result.seconds["scan"] = time.perf_counter() - clock

    clock = time.perf_counter()
    gen_dir = _gen_dir(folder, state.generation)
    result.batches_applied, result.batches_skipped = await apply_generation(
        target, gen_dir, state.generation, state.tables, reporter
    )
    _write_state(folder, state.model_copy(update={"phase": "applied"}))
    result.seconds["apply"] = time.perf_counter() - clock

    clock = time.perf_counter()
    result.verified = await verify_generation(target, gen_dir, state.tables, reporter)
    result.seconds["verify"] = time.perf_counter() - clock
    return result


def delta_rows(folder: Path, generation: int, table: str) -> Iterator[JsonObject]:
    """The upserted rows of one table in one generation (for inspection and tests)."""
    state = read_state(folder, generation)
    if state is None:
        return
    entry = next((t for t in state.tables if t.name == table), None)
    for batch in entry.batches if entry else []:
        if batch.kind == "upserts":
            path = _gen_dir(folder, generation) / table / batch.file_name()
            for item in read_checked(path, batch.sha256, parse=True):
                assert isinstance(item, dict)
                yield item
