"""The export folder's manifest, per-table journals and the source fingerprint.

Layout of an export folder::

    manifest.json            # written at start (complete=false) and at the end (complete=true)
    <table>/000000.jsonl     # batch files, JSON Lines, renamed into place when complete
    <table>/000000.digests   # per row: [key..., canonical-row SHA-256], for a fast verify
    <table>/journal.jsonl    # one fsynced line per finished batch: {batch, rows, sha256}

The journal is what makes a killed export resumable: a batch counts as exported only
once its line is in the journal, and a torn last line is ignored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from orcheo_storage.errors import StorageError
from orcheo_storage.migration.files import append_durable, write_atomic

MANIFEST = "manifest.json"
JOURNAL = "journal.jsonl"
FORMAT = "orcheo-storage-export/1"
SORTED_LINES = "sorted"
"""``Manifest.line_keys`` of exports whose batch lines carry their keys sorted (the
canonical form's order, so one encoding gives both the line and the row digest)."""


class MigrationError(StorageError):
    """A migration step cannot go on; the message says why and what to do."""


class SourceChangedError(MigrationError):
    """The source differs from the one an export started from."""


class BatchCorruptError(MigrationError):
    """A batch file does not match its recorded checksum or row count."""


class Fingerprint(BaseModel):
    """What identifies the state of a source: schema, counts, highest keys."""

    model_config = ConfigDict(frozen=True)

    source: str
    schema_version: int
    counts: dict[str, int]
    highest_keys: dict[str, list[Any] | None] = Field(default_factory=dict)

    def differences(self, other: Fingerprint) -> list[str]:
        """Human-readable differences (schema and counts) between two fingerprints."""
        out: list[str] = []
        if self.schema_version != other.schema_version:
            out.append(f"schema version {self.schema_version} -> {other.schema_version}")
        for table in sorted(set(self.counts) | set(other.counts)):
            a, b = self.counts.get(table), other.counts.get(table)
            if a != b:
                out.append(f"{table}: {a} rows -> {b} rows")
        return out


class BatchEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    batch: int
    rows: int
    sha256: str
    bytes: int = 0
    index_sha256: str | None = None
    versions_sha256: str | None = None

    def file_name(self) -> str:
        return batch_file_name(self.batch)

    def index_name(self) -> str:
        """The batch's digest index: one ``[key..., sha256 of the canonical row]`` per row."""
        return f"{self.batch:06d}.digests"

    def versions_name(self) -> str:
        """The batch's row versions, for incremental sync (:mod:`..versions`)."""
        return f"{self.batch:06d}.versions"

    def batch_id(self, table: str) -> str:
        """The ledger id of this batch in the target: ``table:batch_no:sha256``."""
        return f"{table}:{self.batch}:{self.sha256}"


class TableEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    rows: int
    batches: list[BatchEntry]
    highest_key: list[Any] | None = None


class Manifest(BaseModel):
    model_config = ConfigDict(frozen=True)

    format: str = FORMAT
    line_keys: str = "insertion"  # exports before SORTED_LINES wrote keys as the row held them
    complete: bool = False
    batch_size: int
    fingerprint: Fingerprint
    tables: list[TableEntry] = Field(default_factory=list)
    unmapped: list[str] = Field(default_factory=list)
    accounting: dict[str, Any] = Field(default_factory=dict)
    """A checked source's field-level accounting (today's files: the mapping table used,
    documented drops and allowed losses by legacy field, files absent)."""

    def table(self, name: str) -> TableEntry | None:
        return next((t for t in self.tables if t.name == name), None)


def batch_file_name(batch: int) -> str:
    return f"{batch:06d}.jsonl"


def write_manifest(folder: Path, manifest: Manifest) -> None:
    write_atomic(folder / MANIFEST, manifest.model_dump_json(indent=1).encode("utf-8"))


def read_manifest(folder: Path) -> Manifest | None:
    """The folder's manifest, or ``None`` when there is none.

    Raises:
        MigrationError: the manifest is unreadable or of another format.
    """
    path = folder / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = Manifest.model_validate_json(path.read_bytes())
    except ValueError as exc:
        raise MigrationError(f"{path} is not a readable export manifest: {exc}") from None
    if manifest.format != FORMAT:
        raise MigrationError(f"{path} has format {manifest.format!r}, expected {FORMAT!r}")
    return manifest


def append_journal(table_dir: Path, entry: BatchEntry) -> None:
    append_durable(table_dir / JOURNAL, (entry.model_dump_json() + "\n").encode("utf-8"))


def read_journal(table_dir: Path) -> list[BatchEntry]:
    """The finished batches of one table, in order, stopping at a torn or out-of-order line."""
    path = table_dir / JOURNAL
    if not path.exists():
        return []
    entries: list[BatchEntry] = []
    for line in path.read_bytes().split(b"\n"):
        if not line:
            continue
        try:
            entry = BatchEntry.model_validate(json.loads(line))
        except ValueError:
            break  # a torn line written while the process was killed
        if entry.batch != len(entries):
            break
        entries.append(entry)
    return entries
