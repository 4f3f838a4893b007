"""Reading logical rows back by key (what a migration's sync verifies its changes with)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from orcheo_storage.jsoncodec import JsonObject, JsonValue
from orcheo_storage.migration.tables import key_values

from orcheo_storage_sqlite.bulk_tables import Mapping

CHUNK = 200
"""Keys per statement (SQLite allows 32,766 variables; keys have at most two columns)."""


def fetch_job(
    table: str, mapping: Mapping, keys: list[list[JsonValue]]
) -> Callable[[sqlite3.Connection], list[JsonObject]]:
    """A read job returning the logical rows of ``table`` whose key is in ``keys``.

    Raises:
        ValidationError: a key is not a list of the table's key values.
    """
    checked = [key_values(table, key) for key in keys]
    width = len(mapping.key)
    columns = ", ".join(mapping.key)

    def job(conn: sqlite3.Connection) -> list[JsonObject]:
        out: list[JsonObject] = []
        for start in range(0, len(checked), CHUNK):
            chunk = checked[start : start + CHUNK]
            marks = ", ".join("(" + ", ".join("?" * width) + ")" for _ in chunk)
            sql = f"{mapping.select} WHERE ({columns}) IN (VALUES {marks}) ORDER BY {mapping.order}"
            args = [part for key in chunk for part in key]
            out += [mapping.export(r) for r in conn.execute(sql, args).fetchall()]
        return out

    return job
