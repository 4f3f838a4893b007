"""Reading logical rows back by key (what a migration's sync verifies its changes with)."""

from __future__ import annotations

from orcheo_storage.jsoncodec import JsonObject
from psycopg import sql

from orcheo_storage_postgres._db import Db, q_all
from orcheo_storage_postgres._keys import key_match, key_params, key_types
from orcheo_storage_postgres._rows import plain


async def fetch_by_key(
    db: Db,
    physical: str,
    columns: tuple[str, ...],
    order: str,
    keys: list[tuple[str | int, ...]],
) -> list[JsonObject]:
    """Rows of ``physical`` whose ``order`` columns equal one of ``keys`` (plain values).

    Keys are checked by the caller (:func:`orcheo_storage.migration.tables.key_values`).
    """
    key = [part.strip() for part in order.split(",")]
    if not keys:
        return []
    async with db.connection() as conn:
        types = await key_types(conn, physical, key)
        query = sql.SQL("SELECT {} FROM {} WHERE {}").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in columns),
            sql.Identifier(physical),
            key_match(key, types),
        )
        rows = await q_all(conn, query, key_params(len(key), keys))
    return [plain(dict(r)) for r in rows]
