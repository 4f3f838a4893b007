"""Verify: compare a source and a target table by table, row by row, in key order.

Both sides stream their rows in key order; a merge join pairs rows by key and compares
the SHA-256 of their canonical form (:func:`~orcheo_storage.migration.canonical.canonical_row`),
so memory stays constant whatever the size. Each difference names the table, the key
and, for a changed row, the columns that differ.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from orcheo_storage.jsoncodec import JsonObject
from orcheo_storage.migration.canonical import (
    canonical_row,
    key_text,
    row_digest,
    row_key,
)
from orcheo_storage.migration.folder import FolderSource
from orcheo_storage.migration.manifest import BatchEntry, MigrationError
from orcheo_storage.migration.progress import NullReporter, Reporter
from orcheo_storage.migration.sources import RowSource
from orcheo_storage.migration.tables import TABLES_BY_NAME, dependency_order


class Kind(enum.StrEnum):
    MISSING = "missing"  # in the source, not in the target
    EXTRA = "extra"  # in the target, not in the source
    CHANGED = "changed"
    DUPLICATE = "duplicate"  # the target holds the key more than once


@dataclass(frozen=True)
class Difference:
    table: str
    key: str
    kind: Kind
    columns: tuple[str, ...] = ()

    def __str__(self) -> str:
        cols = f" (columns: {', '.join(self.columns)})" if self.columns else ""
        return f"{self.table} [{self.key}]: {self.kind.value}{cols}"


@dataclass
class TableVerdict:
    table: str
    source_rows: int = 0
    target_rows: int = 0
    differences: int = 0
    listed: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.differences == 0 and self.source_rows == self.target_rows


@dataclass
class VerifyReport:
    tables: list[TableVerdict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables)

    @property
    def differences(self) -> list[Difference]:
        return [d for t in self.tables for d in t.listed]


@functools.total_ordering
class _Null:
    """``None`` in a key as compared: before every value (as SQL's NULLS FIRST)."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Null)

    def __lt__(self, other: object) -> bool:
        return not isinstance(other, _Null)

    def __hash__(self) -> int:
        return 0


_NULL = _Null()


def _sortable(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """``key`` as compared: itself, unless a part is ``None`` (which compares with nothing)."""
    if None not in key:
        return key
    return tuple(_NULL if part is None else part for part in key)


Sortable = tuple[Any, ...]
Entry = tuple[tuple[Any, ...], Sortable, bytes, Callable[[], JsonObject]]
"""One side's row in key order: its key, the key as compared, its canonical digest, and
how to get the row."""


def _in_key_order(
    entries: list[Entry], last: Sortable | None, side: RowSource, table: str, label: str
) -> Sortable | None:
    """The batch's last key, after checking that ``entries`` continue ``last`` in order."""
    for k, sortable, _, _ in entries:
        if last is not None and sortable < last:
            raise MigrationError(
                f"the {label} ({side.name}) returns {table} out of key order at key "
                f"{key_text(k)}; verify needs both sides in key order"
            )
        last = sortable
    return last


async def _batches(
    side: RowSource, table: str, label: str, key: tuple[str, ...], *, use_index: bool = False
) -> AsyncIterator[list[Entry]]:
    """One side's rows in key order, a batch at a time (never an empty batch)."""
    last: Sortable | None = None
    if use_index and isinstance(side, FolderSource) and side.has_index(table):
        # Digests were computed at export time: only the index is read, rows on demand.
        for entry, lines in side.keyed_digests(table):
            keys = [tuple(line[:-1]) for line in lines]
            batch: list[Entry] = [
                (
                    k,
                    _sortable(k),
                    bytes.fromhex(line[-1]),
                    partial(_find, side, table, entry, key, k),
                )
                for k, line in zip(keys, lines, strict=True)
            ]
            if batch:
                last = _in_key_order(batch, last, side, table, label)
                yield batch
        return
    async for rows in side.export_rows(table, batch_size=2000):
        keys = [row_key(row, key) for row in rows]
        batch = [
            (k, _sortable(k), row_digest(row), _const(row))
            for k, row in zip(keys, rows, strict=True)
        ]
        if batch:
            last = _in_key_order(batch, last, side, table, label)
            yield batch


def _const(row: JsonObject) -> Callable[[], JsonObject]:
    return lambda: row


def _find(
    side: FolderSource, table: str, entry: BatchEntry, key: tuple[str, ...], k: tuple[Any, ...]
) -> JsonObject:
    """The row of ``entry``'s batch whose key is ``k`` (read only for a changed row)."""
    return next(r for r in side.batch_rows(table, entry) if row_key(r, key) == k)


def changed_columns(a: JsonObject, b: JsonObject) -> tuple[str, ...]:
    """The columns whose canonical encodings differ between two rows (``-0.0`` vs ``0.0`` too)."""
    return tuple(
        sorted(
            c
            for c in set(a) | set(b)
            if c not in a or c not in b or canonical_row({c: a[c]}) != canonical_row({c: b[c]})
        )
    )


async def verify(
    source: RowSource,
    target: RowSource,
    *,
    tables: list[str] | None = None,
    max_listed: int = 100,
    reporter: Reporter | None = None,
) -> VerifyReport:
    """Compare every table of ``source`` with ``target``.

    Args:
        source: the side that is right by definition.
        target: the side being checked.
        tables: a subset (default: the source's tables).
        max_listed: differences listed per table (all are counted).
        reporter: progress sink.

    Returns:
        Per-table counts and differences; ``report.ok`` is true only when every table
        has the same rows with the same content on both sides.

    Raises:
        MigrationError: a side does not return rows in key order.
    """
    reporter = reporter or NullReporter()
    report = VerifyReport()
    for table in dependency_order(tables or source.tables()):
        key = TABLES_BY_NAME[table].key if table in TABLES_BY_NAME else ("id",)
        verdict = TableVerdict(table)
        report.tables.append(verdict)
        reporter.start("verify", table, await source.count_rows(table))

        def note(diff: Difference, verdict: TableVerdict = verdict) -> None:
            verdict.differences += 1
            if len(verdict.listed) < max_listed:
                verdict.listed.append(diff)

        src = aiter(_batches(source, table, "source", key, use_index=True))
        dst = aiter(_batches(target, table, "target", key))
        a_rows, b_rows = await anext(src, None), await anext(dst, None)
        at_a = at_b = 0
        last_b: tuple[Any, ...] | None = None
        while a_rows is not None or b_rows is not None:
            a = None if a_rows is None else a_rows[at_a]
            b = None if b_rows is None else b_rows[at_b]
            take_a = take_b = False
            if b is not None and last_b is not None and b[0] == last_b:
                note(Difference(table, key_text(b[0]), Kind.DUPLICATE))
                verdict.target_rows += 1
                take_b = True
            elif b is None or (a is not None and a[1] < b[1]):
                assert a is not None
                note(Difference(table, key_text(a[0]), Kind.MISSING))
                verdict.source_rows += 1
                take_a = True
            elif a is None or b[1] < a[1]:
                note(Difference(table, key_text(b[0]), Kind.EXTRA))
                verdict.target_rows += 1
                last_b = b[0]
                take_b = True
            else:
                if a[2] != b[2]:
                    columns = changed_columns(a[3](), b[3]())
                    note(Difference(table, key_text(a[0]), Kind.CHANGED, columns))
                verdict.source_rows += 1
                verdict.target_rows += 1
                last_b = b[0]
                take_a = take_b = True
            if take_a and a_rows is not None:
                at_a += 1
                if at_a == len(a_rows):
                    reporter.advance("verify", table, at_a)
                    a_rows, at_a = await anext(src, None), 0
            if take_b and b_rows is not None:
                at_b += 1
                if at_b == len(b_rows):
                    b_rows, at_b = await anext(dst, None), 0
        reporter.finish("verify", table)
    return report
