"""Bulk export/import of the logical tables, for migrations to and from this backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from orcheo_storage.errors import DuplicateError, UnsupportedError, ValidationError
from orcheo_storage.jsoncodec import JsonObject, JsonValue, check_text
from orcheo_storage.memory._changes import apply_changes
from orcheo_storage.memory._lifecycle import refuses_when_closed
from orcheo_storage.memory._rows import CORE_TABLES, TableSpec
from orcheo_storage.memory._state import MemoryState
from orcheo_storage.migration.canonical import row_key
from orcheo_storage.migration.tables import TABLES_BY_NAME
from orcheo_storage.rules.pagination import check_limit

CHAT_TABLE_NAMES = frozenset({"chat_threads", "chat_items", "chat_attachments"})


def _spec(table: str) -> TableSpec:
    """The spec of a logical table. Raises ``ValidationError`` for an unknown table."""
    if table not in TABLES_BY_NAME:
        raise ValidationError(f"unknown logical table: {table!r}", field="table")
    if table in CHAT_TABLE_NAMES:
        try:
            from orcheo_storage.memory._chat_rows import CHAT_TABLES
        except ImportError as exc:  # pragma: no cover - chatkit is a declared extra
            raise UnsupportedError(
                "chat tables need the openai-chatkit package (orcheo-storage[chatkit])"
            ) from exc
        return CHAT_TABLES[table]
    return CORE_TABLES[table]


@refuses_when_closed
class MemoryBulkTransfer:
    """:class:`~orcheo_storage.protocols.backend.BulkTransfer` over a session's state.

    Export takes a snapshot of the table when it starts. ``import_batch`` parses and
    checks every row before writing any, and ``apply_changes`` undoes its writes when a
    row fails, so a batch applies whole or not at all.
    """

    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def export_rows(
        self, table: str, *, batch_size: int = 1000
    ) -> AsyncIterator[list[JsonObject]]:
        check_limit(batch_size, maximum=1_000_000)
        rows = _spec(table).export(self._state)
        for start in range(0, len(rows), batch_size):
            yield rows[start : start + batch_size]

    async def count_rows(self, table: str) -> int:
        return len(_spec(table).export(self._state))

    async def fetch_rows(self, table: str, keys: list[list[JsonValue]]) -> list[JsonObject]:
        wanted = {tuple(key) for key in keys}
        columns = TABLES_BY_NAME[table].key if table in TABLES_BY_NAME else ("id",)
        return [r for r in _spec(table).export(self._state) if row_key(r, columns) in wanted]

    async def import_batch(self, table: str, rows: list[JsonObject], *, batch_id: str) -> bool:
        check_text(batch_id, "batch_id")
        spec = _spec(table)
        if batch_id in self._state.imported_batches:
            return False
        parsed: list[Any] = []
        seen: set[Any] = set()
        for row in rows:
            if not isinstance(row, dict):
                raise ValidationError("a row must be a JSON object", field=table)
            entry = spec.parse(row)
            key = spec.key(entry)
            if key in seen or spec.exists(self._state, key):
                raise DuplicateError(f"{table} row", key)
            seen.add(key)
            parsed.append(entry)
        for entry in parsed:
            spec.put(self._state, entry)
        self._state.imported_batches.add(batch_id)
        return True

    async def apply_changes(
        self,
        table: str,
        upserts: list[JsonObject],
        deletes: list[list[JsonValue]],
        *,
        batch_id: str,
    ) -> bool:
        check_text(batch_id, "batch_id")
        spec = _spec(table)
        if batch_id in self._state.imported_batches:
            return False
        # No await from here on: the batch is atomic with respect to every other task.
        apply_changes(self._state, table, spec, upserts, deletes)
        self._state.imported_batches.add(batch_id)
        return True

    async def imported_batches(self) -> set[str]:
        return set(self._state.imported_batches)
