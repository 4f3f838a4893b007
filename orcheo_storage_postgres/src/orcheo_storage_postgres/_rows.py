"""Mapping between frozen core models and table rows.

Scalar fields become native columns (UUID, TIMESTAMPTZ, BOOLEAN, BIGINT, TEXT); JSON
fields and nested models become JSONB written with the core codec, so Decimals and big
integers round-trip exactly.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from orcheo_storage.jsoncodec import dumps
from orcheo_storage.trusted import construct
from psycopg import sql
from psycopg.types.json import Json, Jsonb
from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


def plain(value: Any) -> Any:
    """``value`` (a model, or a ``model_dump()`` result) as JSON data, keeping Decimals for
    the codec."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or kind is float or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, BaseModel):
        if value.__pydantic_extra__:  # a model keeping unknown fields: model_dump() has them
            return plain(value.model_dump())
        # The field values themselves: what model_dump() gives for the core models (no
        # serializers, no computed or excluded fields), without building its copy first.
        return {name: plain(v) for name, v in value.__dict__.items()}
    return value


def jsonb(value: Any) -> Jsonb:
    """A JSONB parameter encoded with the core codec."""
    return Jsonb(plain(value), dumps)


def json_text(value: Any) -> Json:
    """A ``json`` (order-preserving text) parameter encoded with the core codec."""
    return Json(plain(value), dumps)


class RowCodec(Generic[M]):
    """Turns a model into statement parameters and a row back into the model.

    Args:
        model: the frozen model class.
        table: the physical table name.
        json_fields: fields stored as JSONB (everything else is a native column).
        columns: the model fields stored (default: all model fields).
        pure_json: JSON fields whose values are already plain JSON data (validated JSON
            objects, lists of strings), encoded without the conversion walk of :func:`plain`.
        text_json: JSON fields stored as ``json`` (verbatim text, key order kept) instead of
            ``jsonb`` (which reorders keys): callers' opaque documents that must come back
            exactly as given and that the database never filters on.
    """

    def __init__(
        self,
        model: type[M],
        table: str,
        json_fields: Iterable[str],
        columns: Iterable[str] | None = None,
        pure_json: Iterable[str] = (),
        text_json: Iterable[str] = (),
    ) -> None:
        self.model = model
        self.table = table
        self.json_fields = frozenset(json_fields)
        self.pure_json = frozenset(pure_json)
        self.text_json = frozenset(text_json)
        self.columns = tuple(columns if columns is not None else model.model_fields)
        self.select_list = sql.SQL(", ").join(sql.Identifier(c) for c in self.columns)
        self.insert_sql = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            sql.Identifier(table),
            self.select_list,
            sql.SQL(", ").join(sql.Placeholder(c) for c in self.columns),
        )

    def params(self, obj: M, **extra: Any) -> dict[str, Any]:
        """Named parameters for every column (``extra`` adds or overrides)."""
        out: dict[str, Any] = {}
        for name in self.columns:
            value = getattr(obj, name)
            if name in self.json_fields:
                if value is None:
                    out[name] = None
                else:
                    doc = value if name in self.pure_json else plain(value)
                    out[name] = Json(doc, dumps) if name in self.text_json else Jsonb(doc, dumps)
            elif isinstance(value, enum.Enum):
                out[name] = value.value
            else:
                out[name] = value
        out.update(extra)
        return out

    def load(self, row: Mapping[str, Any]) -> M:
        """The model for ``row`` (extra columns are ignored).

        Rows were validated when written, so types are restored without re-validating
        (see :mod:`orcheo_storage.trusted`).
        """
        return construct(self.model, {c: row[c] for c in self.columns if c in row})

    def select(self, where: str, tail: str = "") -> sql.Composed:
        """``SELECT <columns> FROM <table> WHERE <where> <tail>`` (where/tail are constants)."""
        return sql.SQL("SELECT {} FROM {} WHERE " + where + (" " + tail if tail else "")).format(
            self.select_list, sql.Identifier(self.table)
        )

    def update_all(self, key: str, skip: Iterable[str] = ()) -> sql.Composed:
        """``UPDATE <table> SET col = %(col)s, ... WHERE key = %(key)s``."""
        skipped = {key, *skip}
        sets = sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder(c))
            for c in self.columns
            if c not in skipped
        )
        return sql.SQL("UPDATE {} SET {} WHERE {} = {}").format(
            sql.Identifier(self.table), sets, sql.Identifier(key), sql.Placeholder(key)
        )
