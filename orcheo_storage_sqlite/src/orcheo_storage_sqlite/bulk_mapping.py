"""The :class:`Mapping` of one logical table, and the SQL it writes rows with.

``load`` is the plain INSERT of ``import_batch``. ``upsert`` is the same INSERT with an
``ON CONFLICT (<key>) DO UPDATE`` clause, for ``apply_changes``: a row whose key exists is
updated in place, so rows referencing it survive, and the columns a logical row does not
carry (per-parent counters such as ``run_histories.step_count``) keep their value.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from orcheo_storage.errors import StorageError, ValidationError
from orcheo_storage.jsoncodec import JsonObject

After = Callable[[sqlite3.Connection, JsonObject], None]


@dataclass(frozen=True)
class Mapping:
    """One logical table on one database component.

    Attributes:
        key: the physical key columns (in the order of the logical key columns).
        columns: the columns export selects (``export`` turns them into a logical row).
        writes: the columns one INSERT writes, in the order of ``params(row)``.
        params: the INSERT parameters of a logical row; validates the row.
        after: a statement run after each written row (raising a per-parent counter).
    """

    component: str
    table: str
    key: tuple[str, ...]
    columns: tuple[str, ...]
    export: Callable[[Sequence[Any]], JsonObject]
    writes: tuple[str, ...]
    params: Callable[[JsonObject], Sequence[Any]]
    after: After | None = None

    @property
    def select(self) -> str:
        return f"SELECT {', '.join(self.columns)} FROM {self.table}"

    @cached_property
    def insert_sql(self) -> str:
        marks = ", ".join("?" for _ in self.writes)
        return f"INSERT INTO {self.table} ({', '.join(self.writes)}) VALUES ({marks})"

    @cached_property
    def upsert_sql(self) -> str:
        """The INSERT, or an in-place UPDATE of the written columns when the key exists."""
        sets = ", ".join(f"{c} = excluded.{c}" for c in self.writes if c not in self.key)
        action = f"DO UPDATE SET {sets}" if sets else "DO NOTHING"
        return f"{self.insert_sql} ON CONFLICT ({', '.join(self.key)}) {action}"

    @cached_property
    def delete_sql(self) -> str:
        return f"DELETE FROM {self.table} WHERE {' AND '.join(f'{k} = ?' for k in self.key)}"

    def load(self, conn: sqlite3.Connection, row: JsonObject) -> None:
        """Insert a logical row (a key that exists is a ``ConflictError``)."""
        self._write(conn, self.insert_sql, row)

    def upsert(self, conn: sqlite3.Connection, row: JsonObject) -> None:
        """Insert a logical row, or update the row with its key in place."""
        self._write(conn, self.upsert_sql, row)

    def _write(self, conn: sqlite3.Connection, statement: str, row: JsonObject) -> None:
        if not isinstance(row, dict):
            raise ValidationError("a row must be a JSON object", field=self.table)
        try:
            params = self.params(row)
        except StorageError:
            raise
        except (KeyError, TypeError, ValueError) as exc:  # a missing or mistyped column
            detail = f"column {exc.args[0]!r} is missing" if isinstance(exc, KeyError) else ""
            raise ValidationError(
                f"invalid {self.table} row{': ' + detail if detail else ''}", field=self.table
            ) from None
        conn.execute(statement, params)
        if self.after is not None:
            self.after(conn, row)

    @property
    def order(self) -> str:
        return ", ".join(self.key)

    def after_clause(self) -> str:
        if len(self.key) == 1:
            return f"{self.key[0]} > ?"
        return f"({', '.join(self.key)}) > ({', '.join('?' for _ in self.key)})"
