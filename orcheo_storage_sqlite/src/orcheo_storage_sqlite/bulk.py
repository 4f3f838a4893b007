"""Bulk export/import of logical rows for the migration engine.

Export streams a table in key order with keyset pagination (one short read per batch,
so memory stays constant and no read transaction is held between batches). Import
writes a batch and its ledger row in one ``BEGIN IMMEDIATE`` transaction: a batch is
applied exactly once even when an import is killed and resumed. ``apply_changes`` does
the same for a batch of deletes and in-place upserts (:mod:`.bulk_changes`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from collections.abc import Mapping as TMapping
from typing import Any

from orcheo_storage.clock import utcnow
from orcheo_storage.errors import ValidationError
from orcheo_storage.jsoncodec import JsonObject, JsonValue

from orcheo_storage_sqlite.bulk_changes import apply_job
from orcheo_storage_sqlite.bulk_fetch import fetch_job
from orcheo_storage_sqlite.bulk_tables import MAPPINGS, Mapping
from orcheo_storage_sqlite.codec import ts
from orcheo_storage_sqlite.engine import Database

_LEDGER_HAS = "SELECT 1 FROM orcheo_migration_ledger WHERE batch_id = ?"
_LEDGER_ADD = """INSERT INTO orcheo_migration_ledger (batch_id, logical_table, row_count, imported_at)
VALUES (?, ?, ?, ?)"""
_LEDGER_ALL = "SELECT batch_id FROM orcheo_migration_ledger"


def _fetch(sql: str, args: tuple[object, ...]) -> Callable[[sqlite3.Connection], list[Any]]:
    def job(conn: sqlite3.Connection) -> list[Any]:
        return conn.execute(sql, args).fetchall()

    return job


class SqliteBulkTransfer:
    """:class:`~orcheo_storage.protocols.backend.BulkTransfer` over a session's databases."""

    def __init__(self, databases: TMapping[str, Database]) -> None:
        self._dbs = databases

    def _mapping(self, table: str) -> tuple[Mapping, Database]:
        mapping = MAPPINGS.get(table)
        if mapping is None:
            raise ValidationError(f"unknown logical table {table!r}", field="table")
        return mapping, self._dbs[mapping.component]

    async def export_rows(
        self, table: str, *, batch_size: int = 1000
    ) -> AsyncIterator[list[JsonObject]]:
        """Yield the table's rows in key order, ``batch_size`` at a time."""
        if batch_size < 1:
            raise ValidationError("batch_size must be at least 1", field="batch_size")
        mapping, db = self._mapping(table)
        first = f"{mapping.select} ORDER BY {mapping.order} LIMIT ?"
        after = f"{mapping.select} WHERE {mapping.after_clause()} ORDER BY {mapping.order} LIMIT ?"
        positions = [mapping.columns.index(k) for k in mapping.key]
        last: tuple[object, ...] | None = None
        while True:
            sql, args = (first, (batch_size,)) if last is None else (after, (*last, batch_size))
            rows = await db.read(_fetch(sql, args))
            if not rows:
                return
            last = tuple(rows[-1][p] for p in positions)
            yield [mapping.export(r) for r in rows]
            if len(rows) < batch_size:
                return

    async def count_rows(self, table: str) -> int:
        mapping, db = self._mapping(table)
        sql = f"SELECT count(*) FROM {mapping.table}"
        row = await db.read(lambda conn: conn.execute(sql).fetchone())
        return int(row[0])

    async def import_batch(self, table: str, rows: list[JsonObject], *, batch_id: str) -> bool:
        mapping, db = self._mapping(table)

        def job(conn: sqlite3.Connection) -> bool:
            if conn.execute(_LEDGER_HAS, (batch_id,)).fetchone() is not None:
                return False
            for row in rows:
                mapping.load(conn, row)
            conn.execute(_LEDGER_ADD, (batch_id, table, len(rows), ts(utcnow())))
            return True

        return await db.write(job)

    async def apply_changes(
        self,
        table: str,
        upserts: list[JsonObject],
        deletes: list[list[JsonValue]],
        *,
        batch_id: str,
    ) -> bool:
        """Delete, then insert or update in place, with the ledger row in one transaction."""
        mapping, db = self._mapping(table)
        return await db.write(apply_job(table, mapping, upserts, deletes, batch_id))

    async def fetch_rows(self, table: str, keys: list[list[JsonValue]]) -> list[JsonObject]:
        """The logical rows whose key is one of ``keys`` (absent keys are skipped)."""
        mapping, db = self._mapping(table)
        return await db.read(fetch_job(table, mapping, keys))

    async def imported_batches(self) -> set[str]:
        found: set[str] = set()
        for db in {id(d): d for d in self._dbs.values()}.values():
            rows = await db.read(lambda conn: conn.execute(_LEDGER_ALL).fetchall())
            found.update(r[0] for r in rows)
        return found
