"""Matching rows by a list of logical keys, with the key index (bulk changes and fetches).

Keys arrive as JSON values; they are sent as one text array per key column and cast to
the column's own type, looked up in the catalog once per table, so the primary-key index
is used: ``k = ANY(...)`` for one column, ``(k1, k2) IN (SELECT * FROM unnest(...))`` else.
"""

from __future__ import annotations

from collections.abc import Sequence

from orcheo_storage.jsoncodec import JsonValue
from psycopg import sql

from orcheo_storage_postgres._db import Conn, q_all

# The table is a literal, not a parameter: with a schema configured, the session's
# connections qualify a literal naming a catalogue table like any table reference.
_TYPES = sql.SQL(
    "SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a "
    "WHERE a.attrelid = {}::regclass AND a.attname = ANY(%s) AND NOT a.attisdropped"
)

# Physical table -> types of its key columns (the schema is the same in every namespace).
_KEY_TYPES: dict[str, tuple[str, ...]] = {}


async def key_types(conn: Conn, physical: str, key: Sequence[str]) -> tuple[str, ...]:
    """The catalog types of ``physical``'s ``key`` columns (cached per table)."""
    if physical not in _KEY_TYPES:
        rows = await q_all(conn, _TYPES.format(sql.Literal(physical)), (list(key),))
        found = {str(r["name"]): str(r["type"]) for r in rows}
        _KEY_TYPES[physical] = tuple(found[column] for column in key)
    return _KEY_TYPES[physical]


def key_match(key: Sequence[str], types: Sequence[str]) -> sql.Composable:
    """A condition true for rows whose ``key`` is one of the keys passed by :func:`key_params`."""
    arrays = [sql.SQL("%s::text[]::{}[]").format(sql.SQL(t)) for t in types]  # catalog types
    if len(key) == 1:
        return sql.SQL("{} = ANY({})").format(sql.Identifier(key[0]), arrays[0])
    return sql.SQL("({}) IN (SELECT * FROM unnest({}))").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in key), sql.SQL(", ").join(arrays)
    )


def key_params(width: int, keys: Sequence[Sequence[JsonValue]]) -> list[list[str | None]]:
    """One text array per key column, for :func:`key_match`."""
    return [[None if k[i] is None else str(k[i]) for k in keys] for i in range(width)]
