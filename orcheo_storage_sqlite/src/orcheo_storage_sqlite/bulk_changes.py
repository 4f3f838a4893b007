"""``apply_changes``: one batch of deletes and in-place upserts, exactly once.

The batch runs as one write job, so in one ``BEGIN IMMEDIATE`` transaction with its row
in ``orcheo_migration_ledger``: a failing row rolls back every change of the batch and
the ledger row with them. Deletes run first, then each upsert is the mapping's INSERT
with ``ON CONFLICT (<key>) DO UPDATE`` (see :mod:`orcheo_storage_sqlite.bulk_mapping`).
Counters are raised as on import: ``run_histories.step_count`` by the steps mapping, the
token audit ``AUTOINCREMENT`` sequence by SQLite itself (it never goes down), and version,
ordinal and checkpoint numbering follow the stored rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from orcheo_storage.clock import utcnow
from orcheo_storage.errors import DuplicateError, ValidationError
from orcheo_storage.jsoncodec import JsonObject, JsonValue
from orcheo_storage.migration.canonical import row_key
from orcheo_storage.migration.tables import TABLES_BY_NAME, key_values

from orcheo_storage_sqlite.bulk_mapping import Mapping
from orcheo_storage_sqlite.codec import ts

LEDGER_HAS = "SELECT 1 FROM orcheo_migration_ledger WHERE batch_id = ?"
LEDGER_ADD = """INSERT INTO orcheo_migration_ledger (batch_id, logical_table, row_count, imported_at)
VALUES (?, ?, ?, ?)"""


def apply_job(
    table: str,
    mapping: Mapping,
    upserts: list[JsonObject],
    deletes: list[list[JsonValue]],
    batch_id: str,
) -> Callable[[sqlite3.Connection], bool]:
    """The write job applying one batch; returns ``False`` when ``batch_id`` is in the ledger.

    Keys are checked before the job is queued; rows are checked as they are written.

    Raises:
        ValidationError: a malformed key or row.
        ConflictError: two upserts share a logical key, or a row breaks a constraint.
    """
    logical = TABLES_BY_NAME[table]
    doomed = [key_values(table, key, field="deletes") for key in deletes]
    seen: set[tuple[object, ...]] = set()
    for row in upserts:
        if not isinstance(row, dict):
            raise ValidationError("a row must be a JSON object", field=table)
        key = _hashable(row_key(row, logical.key))
        if key in seen:
            raise DuplicateError(f"{table} row", ", ".join(str(part) for part in key))
        seen.add(key)

    def job(conn: sqlite3.Connection) -> bool:
        if conn.execute(LEDGER_HAS, (batch_id,)).fetchone() is not None:
            return False
        conn.executemany(mapping.delete_sql, doomed)
        for row in upserts:
            mapping.upsert(conn, row)
        count = len(upserts) + len(doomed)
        conn.execute(LEDGER_ADD, (batch_id, table, count, ts(utcnow())))
        return True

    return job


def _hashable(key: tuple[object, ...]) -> tuple[object, ...]:
    return tuple(part if isinstance(part, str | int | None) else repr(part) for part in key)
