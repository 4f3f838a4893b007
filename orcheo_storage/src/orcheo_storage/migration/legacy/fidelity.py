"""Verify a migration of today's files against the files themselves, field by field.

Each legacy row is read again (checked, not mapped) and joined by key with the target's
row of the same logical table; :func:`~.meaning.differences` names every legacy field the
target does not hold. Both sides stream in key order, so memory stays bounded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from orcheo_storage.jsoncodec import JsonObject
from orcheo_storage.migration.canonical import key_text
from orcheo_storage.migration.legacy.meaning import Ciphers, differences
from orcheo_storage.migration.legacy.source import LegacySource
from orcheo_storage.migration.manifest import MigrationError
from orcheo_storage.migration.progress import NullReporter, Reporter
from orcheo_storage.migration.tables import TABLES_BY_NAME
from orcheo_storage.migration.verify import Difference, Kind, TableVerdict, VerifyReport
from orcheo_storage.protocols.backend import BackendSession

LISTED = 100  # differences named per table; the count covers all of them


def _key_of(table: str, row: JsonObject) -> tuple[Any, ...]:
    parts = []
    for column in TABLES_BY_NAME[table].key:
        value: Any = row
        for name in column.split("."):
            value = value.get(name) if isinstance(value, dict) else None
        parts.append(value)
    return tuple(parts)


def _order(key: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((0, "") if part is None else (1, part) for part in key)


async def _target_rows(
    target: BackendSession, table: str
) -> AsyncIterator[tuple[tuple[Any, ...], JsonObject]]:
    async for batch in target.bulk().export_rows(table, batch_size=1000):
        for row in batch:
            yield _key_of(table, row), row


async def _legacy_rows(
    source: LegacySource, table: str
) -> AsyncIterator[tuple[tuple[Any, ...], dict[str, Any]]]:
    async for batch in source.checked_rows(table):
        for key, row in batch:
            yield key, row


async def verify_legacy(
    source: LegacySource, target: BackendSession, *, reporter: Reporter | None = None
) -> VerifyReport:
    """Compare every legacy row with the target's row, field by field.

    Raises:
        MigrationError: a side does not stream its rows in key order.
    """
    reporter = reporter or NullReporter()
    legacy_cipher, target_cipher = source.ciphers
    ciphers = Ciphers(legacy_cipher, target_cipher)
    report = VerifyReport()
    for table in source.tables():
        shape = source.shape_of(table)
        assert shape is not None
        verdict = TableVerdict(table)
        reporter.start("verify", table, await source.count_rows(table))
        old = _legacy_rows(source, table)
        new = _target_rows(target, table)
        a = await anext(old, None)
        b = await anext(new, None)
        last_a: tuple[Any, ...] | None = None
        last_b: tuple[Any, ...] | None = None
        while a is not None or b is not None:
            if a is not None and last_a is not None and _order(a[0]) < last_a:
                raise MigrationError(f"the legacy {table} rows are not in key order")
            if b is not None and last_b is not None and _order(b[0]) < last_b:
                raise MigrationError(f"the target returns {table} out of key order")
            if b is None or (a is not None and _order(a[0]) < _order(b[0])):
                assert a is not None
                verdict.source_rows += 1
                _note(verdict, Difference(table, key_text(a[0]), Kind.MISSING))
                last_a, a = _order(a[0]), await anext(old, None)
                reporter.advance("verify", table, 1)
            elif a is None or _order(b[0]) < _order(a[0]):
                verdict.target_rows += 1
                _note(verdict, Difference(table, key_text(b[0]), Kind.EXTRA))
                last_b, b = _order(b[0]), await anext(new, None)
            else:
                verdict.source_rows += 1
                verdict.target_rows += 1
                fields = differences(shape, table, a[1], {table: b[1]}, ciphers)
                if fields:
                    _note(verdict, Difference(table, key_text(a[0]), Kind.CHANGED, tuple(fields)))
                last_a, a = _order(a[0]), await anext(old, None)
                last_b, b = _order(b[0]), await anext(new, None)
                reporter.advance("verify", table, 1)
        reporter.finish("verify", table)
        report.tables.append(verdict)
    return report


def _note(verdict: TableVerdict, difference: Difference) -> None:
    verdict.differences += 1
    if len(verdict.listed) < LISTED:
        verdict.listed.append(difference)
