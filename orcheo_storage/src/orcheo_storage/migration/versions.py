"""Row versions: what an incremental sync compares to find the rows changed since a copy.

Every exported row gets a *version* line ``[source key, logical key, version]``:

- the **source key** is the row's key in the source's own order (the order its rows are
  exported in), so a later scan can be merged with the earlier one without holding
  either in memory;
- the **logical key** is the row's key in :mod:`~orcheo_storage.migration.tables` terms,
  what a target deletes by when the row has gone;
- the **version** changes whenever the row's stored form changes.

A source that can compute versions cheaply from its stored form (today's Orcheo files
hash the raw columns, without decoding any JSON) implements :class:`VersionedSource`;
for any other source the version is the SHA-256 of the row's canonical form, which
costs a full read but needs nothing from the source.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from orcheo_storage.jsoncodec import JsonObject
from orcheo_storage.migration.canonical import encode_line, row_digest, row_key
from orcheo_storage.migration.manifest import BatchCorruptError
from orcheo_storage.migration.sources import RowSource
from orcheo_storage.migration.tables import TABLES_BY_NAME

DIGEST_KIND = "canonical-sha256"
"""The version kind of sources without a cheaper one: the canonical row digest."""

Key = tuple[Any, ...]
LazyRow = tuple[Key, bytes, Callable[[], JsonObject]]
"""One source row: its source key, its version, and how to get its logical row."""


@runtime_checkable
class VersionedSource(Protocol):
    """A source that versions its rows more cheaply than by mapping and hashing them."""

    @property
    def versions_kind(self) -> str:
        """A name for how versions are computed; two scans compare only if it is equal."""
        ...

    def export_versioned(self, table: str, *, batch_size: int) -> AsyncIterator[list[LazyRow]]:
        """Every row of ``table`` in export order as (source key, version, row thunk).

        The thunk maps the row only when called, so a scan that finds a row unchanged
        never pays for mapping it.
        """
        ...


def logical_key(table: str) -> tuple[str, ...]:
    """The logical key columns of ``table``."""
    spec = TABLES_BY_NAME.get(table)
    return spec.key if spec else ("id",)


def versions_kind(source: RowSource) -> str:
    """How ``source``'s rows are versioned."""
    return source.versions_kind if isinstance(source, VersionedSource) else DIGEST_KIND


def _constant(row: JsonObject) -> Callable[[], JsonObject]:
    return lambda: row


async def versioned_rows(
    source: RowSource, table: str, *, batch_size: int, digests: bool = True
) -> AsyncIterator[list[LazyRow]]:
    """``table``'s rows in export order with their versions (see :class:`VersionedSource`).

    With ``digests=False`` a source without versions of its own gives ``b""`` as every
    version, for a caller that computes the canonical digests itself (the export does,
    from the encoding it writes).
    """
    if isinstance(source, VersionedSource):
        async for batch in source.export_versioned(table, batch_size=batch_size):
            yield batch
        return
    key = logical_key(table)
    async for rows in source.export_rows(table, batch_size=batch_size):
        yield [
            (row_key(row, key), row_digest(row) if digests else b"", _constant(row)) for row in rows
        ]


def version_line(source_key: Key, logical: Key, version: bytes) -> bytes:
    """One line of a versions file."""
    return encode_line([list(source_key), list(logical), version.hex()])


def sortable(key: Key) -> tuple[tuple[int, Any], ...]:
    """``key`` comparable the way SQL orders it: NULL, then numbers, then text, then bytes."""
    out: list[tuple[int, Any]] = []
    for part in key:
        if part is None:
            out.append((0, 0))
        elif isinstance(part, bool | int | float):
            out.append((1, part))
        elif isinstance(part, str):
            out.append((2, part))
        else:
            out.append((3, bytes(part) if isinstance(part, bytes | bytearray) else str(part)))
    return tuple(out)


def key_before(a: Key, b: Key) -> bool:
    """Whether key ``a`` sorts before ``b`` the way SQL orders them (see :func:`sortable`).

    Keys whose parts have comparable types (the usual case: text with text, numbers with
    numbers) compare directly; NULLs and mixed types go through :func:`sortable`.
    """
    try:
        return bool(a < b)
    except TypeError:
        return sortable(a) < sortable(b)


def read_versions(path: Path, sha256: str) -> Iterator[tuple[Key, Key, bytes, bytes]]:
    """The lines of one versions file as (source key, logical key, version, line), streamed.

    The file's SHA-256 is checked as it is read; a mismatch raises after the last line,
    before the caller can finish (a sync scan writes its state only after every table).

    Raises:
        BatchCorruptError: the file is missing, altered, or holds a line that is not a
            versions line.
    """
    hasher = hashlib.sha256()
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise BatchCorruptError(f"versions file {path} is missing") from None
    with handle:
        for number, line in enumerate(handle, 1):
            hasher.update(line)
            try:
                source_key, logical, version = json.loads(line)
                parsed = (tuple(source_key), tuple(logical), bytes.fromhex(version), line)
            except (ValueError, TypeError) as exc:
                raise BatchCorruptError(
                    f"{path} line {number} is not a versions line: {exc}"
                ) from None
            yield parsed
    if hasher.hexdigest() != sha256:
        raise BatchCorruptError(
            f"versions file {path} does not match its recorded SHA-256; the folder was altered"
        )
