"""An export folder read back as a migration source, with every batch checked first."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

from orcheo_storage.jsoncodec import JsonObject, loads
from orcheo_storage.migration.manifest import (
    BatchCorruptError,
    BatchEntry,
    Manifest,
    MigrationError,
    TableEntry,
    read_manifest,
)

DONE = "done.json"
"""A table's finished entry, written by the export once all its batches are journaled."""


def load_complete_manifest(folder: Path) -> Manifest:
    """The manifest of a finished export.

    Raises:
        MigrationError: no manifest, or the export did not finish.
    """
    manifest = read_manifest(folder)
    if manifest is None:
        raise MigrationError(f"{folder} holds no export manifest; run the export first")
    if not manifest.complete:
        raise MigrationError(f"the export in {folder} did not finish; resume the export first")
    return manifest


def read_batch(folder: Path, table: str, entry: BatchEntry) -> bytes:
    """The bytes of one batch file after checking its SHA-256.

    Raises:
        BatchCorruptError: the file is missing or its checksum differs from the manifest.
    """
    path = folder / table / entry.file_name()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BatchCorruptError(f"batch file {path} is missing") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry.sha256:
        raise BatchCorruptError(
            f"batch file {path} has SHA-256 {digest}, the manifest records {entry.sha256}; "
            "the export folder was altered or damaged: export again"
        )
    return data


def parse_batch(data: bytes, table: str, entry: BatchEntry) -> list[JsonObject]:
    """Decode a checked batch into rows.

    Raises:
        BatchCorruptError: a line is not a JSON object, or the row count differs.
    """
    rows: list[JsonObject] = []
    for number, line in enumerate(data.splitlines()):
        value = loads(line)
        if not isinstance(value, dict):
            raise BatchCorruptError(f"{table} batch {entry.batch} line {number} is not an object")
        rows.append(value)
    if len(rows) != entry.rows:
        raise BatchCorruptError(
            f"{table} batch {entry.batch} holds {len(rows)} rows, the manifest records {entry.rows}"
        )
    return rows


class FolderSource:
    """A finished export folder as a :class:`~orcheo_storage.migration.sources.RowSource`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.manifest = load_complete_manifest(folder)
        self._tables = {t.name: t for t in self.manifest.tables}

    @classmethod
    def finished_tables(cls, folder: Path, tables: list[str]) -> FolderSource:
        """The ``tables`` whose export finished (``done.json``), while the export still runs.

        Raises:
            MigrationError: no manifest, or a table's export did not finish.
        """
        manifest = read_manifest(folder)
        if manifest is None:
            raise MigrationError(f"{folder} holds no export manifest; run the export first")
        entries: list[TableEntry] = []
        for table in tables:
            done = folder / table / DONE
            if not done.exists():
                raise MigrationError(f"the export of {table} in {folder} did not finish")
            entries.append(TableEntry.model_validate_json(done.read_bytes()))
        source = cls.__new__(cls)
        source.folder = folder
        source.manifest = manifest.model_copy(update={"tables": entries})
        source._tables = {t.name: t for t in entries}
        return source

    @property
    def name(self) -> str:
        return f"export folder of {self.manifest.fingerprint.source}"

    def tables(self) -> list[str]:
        return list(self._tables)

    def table(self, name: str) -> TableEntry:
        try:
            return self._tables[name]
        except KeyError:
            raise MigrationError(f"the export holds no table {name!r}") from None

    async def schema_version(self) -> int:
        return self.manifest.fingerprint.schema_version

    async def count_rows(self, table: str) -> int:
        return self.table(table).rows

    def batches(self, table: str) -> Iterator[tuple[BatchEntry, list[JsonObject]]]:
        """Each checked batch of ``table`` with its rows."""
        for entry in self.table(table).batches:
            yield entry, parse_batch(read_batch(self.folder, table, entry), table, entry)

    async def export_rows(
        self, table: str, *, batch_size: int = 1000
    ) -> AsyncIterator[list[JsonObject]]:
        # Batches are yielded as exported; ``batch_size`` is the exporter's, not the caller's.
        for _, rows in self.batches(table):
            yield rows

    def has_index(self, table: str) -> bool:
        """Whether every batch of ``table`` carries a digest index (exports since format 1.1)."""
        return all(e.index_sha256 is not None for e in self.table(table).batches)

    def keyed_digests(self, table: str) -> Iterator[tuple[BatchEntry, list[list[Any]]]]:
        """Per batch, its index lines ``[key..., hex digest]`` after checking the index SHA-256.

        Raises:
            BatchCorruptError: an index file is missing or altered.
        """
        for entry in self.table(table).batches:
            path = self.folder / table / entry.index_name()
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                raise BatchCorruptError(f"digest index {path} is missing") from None
            if hashlib.sha256(data).hexdigest() != entry.index_sha256:
                raise BatchCorruptError(f"digest index {path} does not match the manifest")
            # One decode of the whole (checked) index: exact numbers, the codec's fast path.
            lines = cast(list[list[Any]], loads(b"[" + b",".join(data.splitlines()) + b"]"))
            if len(lines) != entry.rows:
                raise BatchCorruptError(
                    f"digest index {path} has {len(lines)} rows, not {entry.rows}"
                )
            yield entry, lines

    def batch_rows(self, table: str, entry: BatchEntry) -> list[JsonObject]:
        """The checked rows of one batch."""
        return parse_batch(read_batch(self.folder, table, entry), table, entry)

    def unmapped(self) -> list[str]:
        return list(self.manifest.unmapped)
