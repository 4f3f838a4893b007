"""Reading logical rows back by key (what a migration's sync verifies its changes with).

Keys arrive as JSON values; they are sent as one array per key column, cast to the
column's own type (looked up once per table), so the primary-key index is used.
"""

from __future__ import annotations

from orcheo_storage.errors import ValidationError
from orcheo_storage.jsoncodec import JsonObject, JsonValue
from psycopg import sql

from orcheo_storage_postgres._db import Db
from orcheo_storage_postgres._errors import translated
from orcheo_storage_postgres._rows import plain

_TYPES = (
    "SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a "
    "WHERE a.attrelid = %s::regclass AND a.attname = ANY(%s) AND NOT a.attisdropped"
)


class KeyReader:
    """``fetch_rows`` for :class:`~orcheo_storage_postgres.bulk.PostgresBulkTransfer`."""

    def __init__(self, db: Db) -> None:
        self._db = db
        self._types: dict[str, list[str]] = {}

    async def _key_types(self, physical: str, key: list[str]) -> list[str]:
        if physical not in self._types:
            rows = await self._db.all(_TYPES, (physical, key))
            found = {str(r["name"]): str(r["type"]) for r in rows}
            self._types[physical] = [found[column] for column in key]
        return self._types[physical]

    async def fetch(
        self, physical: str, columns: tuple[str, ...], order: str, keys: list[list[JsonValue]]
    ) -> list[JsonObject]:
        """Rows of ``physical`` whose ``order`` columns equal one of ``keys`` (plain values)."""
        key = [part.strip() for part in order.split(",")]
        for item in keys:
            if len(item) != len(key):
                raise ValidationError(
                    f"a {physical} key has {len(key)} column(s), got {len(item)}", field="keys"
                )
        if not keys:
            return []
        types = await self._key_types(physical, key)
        query = sql.SQL("SELECT {} FROM {} WHERE ({}) IN (SELECT * FROM unnest({}))").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in columns),
            sql.Identifier(physical),
            sql.SQL(", ").join(sql.Identifier(c) for c in key),
            sql.SQL(", ").join(
                sql.SQL("%s::{}[]").format(sql.SQL(t))
                for t in types  # types from the catalog
            ),
        )
        params = [[None if k[i] is None else str(k[i]) for k in keys] for i in range(len(key))]
        with translated():
            rows = await self._db.all(query, params)
        return [plain(dict(r)) for r in rows]
