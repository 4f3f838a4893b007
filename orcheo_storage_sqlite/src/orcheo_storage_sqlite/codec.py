"""How model fields become SQLite columns and back.

* Timestamps are INTEGER microseconds since the Unix epoch (UTC): exact to the
  microsecond, compact, and they sort correctly (also before 1970).
* UUIDs are their canonical lowercase text; booleans 0/1; enums their value.
* Nested values are JSON text written with :func:`orcheo_storage.jsoncodec.dumps` and read
  with :func:`~orcheo_storage.jsoncodec.loads`, so big ints and exact decimals round-trip.

:class:`TableMap` binds a pydantic model to a table whose columns are the model's
top-level fields, giving the SELECT/INSERT/UPDATE statements and row conversion.
"""

from __future__ import annotations

import enum
import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar
from uuid import UUID

from orcheo_storage.clock import ensure_utc
from orcheo_storage.jsoncodec import JsonValue, dumps, loads
from orcheo_storage.trusted import construct
from pydantic import BaseModel, SecretStr

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)

Kind = Literal["text", "int", "float", "bool", "ts", "uuid", "json", "enum"]
M = TypeVar("M", bound=BaseModel)


def ts(value: datetime) -> int:
    """An aware (or naive-as-UTC) datetime as integer microseconds since the epoch."""
    return (ensure_utc(value) - EPOCH) // _MICRO


def ts_opt(value: datetime | None) -> int | None:
    return None if value is None else ts(value)


def from_ts(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


def from_ts_opt(value: int | None) -> datetime | None:
    return None if value is None else from_ts(value)


def _exact_for_stdlib(value: Any) -> bool:
    """Whether the stdlib encoder writes ``value`` exactly as the project codec does
    (true when it holds no float or Decimal: strings, ints, bools and nulls agree)."""
    if isinstance(value, dict):
        return all(_exact_for_stdlib(v) for v in value.values())
    if isinstance(value, list):
        return all(_exact_for_stdlib(v) for v in value)
    return not isinstance(value, float | Decimal)


def fast_dumps(value: JsonValue) -> str:
    """:func:`orcheo_storage.jsoncodec.dumps`, via the C encoder when that is identical.

    Non-integer numbers always go through the project codec (positional notation,
    exact decimals); everything else is encoded the same by both, only faster.
    """
    if _exact_for_stdlib(value):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return dumps(value)


def to_json_value(value: Any) -> JsonValue:
    """Plain JSON data for a model or value: datetimes as ISO text, UUIDs as text,
    enums as values, Decimals kept exact (the codec writes them literally)."""
    if isinstance(value, BaseModel):
        return to_json_value(value.model_dump(mode="python"))
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    if isinstance(value, enum.Enum):
        return to_json_value(value.value)
    if isinstance(value, datetime):
        return ensure_utc(value).isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, SecretStr):  # never reached for stored models; kept opaque
        raise TypeError("secrets must be sealed before they are stored")
    return value  # type: ignore[no-any-return]


def jdump(value: Any) -> str:
    """JSON text of ``value`` (see :func:`to_json_value`)."""
    return fast_dumps(to_json_value(value))


def jdump_opt(value: Any) -> str | None:
    return None if value is None else jdump(value)


def jload(text: str | bytes | None) -> Any:
    return None if text is None else loads(text)


def encode(kind: Kind, value: Any) -> Any:
    """The SQLite value of a model field of ``kind``."""
    if value is None:
        return None
    if kind == "ts":
        return ts(value)
    if kind == "uuid":
        return str(value)
    if kind == "bool":
        return 1 if value else 0
    if kind == "json":
        return jdump(value)
    if kind == "enum":
        return value.value if isinstance(value, enum.Enum) else value
    return value


def decode(kind: Kind, value: Any) -> Any:
    """The model field value of a SQLite column of ``kind``."""
    if value is None:
        return None
    if kind == "ts":
        return from_ts(value)
    if kind == "bool":
        return bool(value)
    if kind == "json":
        return loads(value)
    return value


class TableMap(Generic[M]):
    """A model stored one field per column.

    Args:
        table: table name (a constant, never user input).
        model: the pydantic model class.
        columns: ``(field, kind)`` pairs, in column order; the first is the primary key
            unless ``key`` names others.
        key: the primary-key fields for UPDATE.
    """

    def __init__(
        self,
        table: str,
        model: type[M],
        columns: Sequence[tuple[str, Kind]],
        key: Sequence[str] | None = None,
    ) -> None:
        self.table = table
        self.model = model
        self.columns = tuple(columns)
        self.names = tuple(name for name, _ in self.columns)
        self.key = tuple(key or (self.names[0],))
        cols = ", ".join(self.names)
        self.select = f"SELECT {cols} FROM {table}"
        marks = ", ".join("?" for _ in self.names)
        self.insert = f"INSERT INTO {table} ({cols}) VALUES ({marks})"
        sets = ", ".join(f"{n} = ?" for n in self.names if n not in self.key)
        where = " AND ".join(f"{n} = ?" for n in self.key)
        self.update = f"UPDATE {table} SET {sets} WHERE {where}"
        self._kinds = dict(self.columns)

    def params(self, obj: M) -> tuple[Any, ...]:
        """Column values for INSERT, in column order."""
        return tuple(encode(kind, getattr(obj, name)) for name, kind in self.columns)

    def update_params(self, obj: M) -> tuple[Any, ...]:
        """Values for :attr:`update`: non-key columns, then the key."""
        values = [encode(k, getattr(obj, n)) for n, k in self.columns if n not in self.key]
        values.extend(encode(self._kinds[n], getattr(obj, n)) for n in self.key)
        return tuple(values)

    def data(self, row: Sequence[Any]) -> dict[str, Any]:
        """The field dict of a row selected with :attr:`select`."""
        return {
            name: decode(kind, value) for (name, kind), value in zip(self.columns, row, strict=True)
        }

    def load(self, row: Sequence[Any]) -> M:
        """The model of a row selected with :attr:`select`.

        Rows were validated when written, so types are restored without re-validating
        (see :mod:`orcheo_storage.trusted`).
        """
        return construct(self.model, self.data(row))

    def load_all(self, rows: Sequence[Sequence[Any]]) -> list[M]:
        return [self.load(r) for r in rows]

    def fetch_one(self, conn: sqlite3.Connection, where: str, args: Sequence[Any]) -> M | None:
        row = conn.execute(f"{self.select} WHERE {where}", tuple(args)).fetchone()
        return None if row is None else self.load(row)

    def fetch_all(self, conn: sqlite3.Connection, tail: str, args: Sequence[Any] = ()) -> list[M]:
        return self.load_all(conn.execute(f"{self.select} {tail}", tuple(args)).fetchall())

    def insert_row(self, conn: sqlite3.Connection, obj: M) -> None:
        conn.execute(self.insert, self.params(obj))

    def update_row(self, conn: sqlite3.Connection, obj: M) -> int:
        return conn.execute(self.update, self.update_params(obj)).rowcount
