"""Checking a legacy row against its shape before it is mapped.

:func:`parse_row` decodes the JSON columns of a raw row; :func:`find_losses` lists every
column or JSON key the shape does not account for, and every value of a type the mapping
cannot hold. Both name the legacy field by its path (``payload.health.status``,
``payload.audit_log[].at``), the name ``--allow-loss`` takes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from orcheo_storage.migration.legacy.fitting import LegacyRowError, parse_json
from orcheo_storage.migration.legacy.shapes import Field, Kind, LegacyTable

_JSON_COLUMNS = (Kind.DOCUMENT, Kind.JSON_TEXT)


@dataclass(frozen=True)
class Loss:
    """A legacy field the mapping cannot carry: its path and why."""

    path: str
    reason: str


def parse_row(table: LegacyTable, raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` with its JSON text columns decoded (unknown columns are left as they are).

    Raises:
        LegacyRowError: a JSON column does not hold valid JSON.
    """
    row = dict(raw)
    for field in table.columns:
        if field.kind in _JSON_COLUMNS and isinstance(row.get(field.name), str | bytes):
            row[field.name] = parse_json(row[field.name], f"{table.name}.{field.name}")
    return row


def find_losses(table: LegacyTable, row: dict[str, Any]) -> list[Loss]:
    """Every field of ``row`` the shape does not account for, or whose value does not fit."""
    return list(_fields(table.columns, row, ""))


def _fields(fields: tuple[Field, ...], data: dict[str, Any], prefix: str) -> Iterator[Loss]:
    known = {f.name: f for f in fields}
    for name, value in data.items():
        path = f"{prefix}.{name}" if prefix else name
        field = known.get(name)
        if field is None:
            yield Loss(path, "not a field today's Orcheo stores here (unknown key)")
            continue
        yield from _value(field, value, path)


def _value(field: Field, value: Any, path: str) -> Iterator[Loss]:
    if value is None:
        return
    kind = field.kind
    if kind in (Kind.OBJECT, Kind.DOCUMENT):
        if not isinstance(value, dict):
            yield Loss(path, f"expected a JSON object, got {_type(value)}")
            return
        yield from _fields(field.fields, value, path)
    elif kind is Kind.OBJECTS:
        if not isinstance(value, list):
            yield Loss(path, f"expected a list of objects, got {_type(value)}")
            return
        for item in value:
            if not isinstance(item, dict):
                yield Loss(f"{path}[]", f"expected a JSON object, got {_type(item)}")
            else:
                yield from _fields(field.fields, item, f"{path}[]")
    elif not _fits(kind, value):
        yield Loss(path, f"expected {kind.value}, got {_type(value)}")


def _fits(kind: Kind, value: Any) -> bool:
    if kind in (Kind.TEXT, Kind.TIME):
        return isinstance(value, str)
    if kind is Kind.INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is Kind.NUMBER:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is Kind.BOOL:
        return isinstance(value, bool) or value in (0, 1)
    if kind is Kind.LIST:
        return isinstance(value, list)
    return True  # JSON / JSON_TEXT: any JSON value


def _type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def remove(row: dict[str, Any], path: str) -> None:
    """Delete the field at ``path`` (every element's, through ``[]``) from ``row``."""
    _remove(row, path.split("."))


def _remove(node: Any, parts: list[str]) -> None:
    head, rest = parts[0], parts[1:]
    many = head.endswith("[]")
    name = head[:-2] if many else head
    if not isinstance(node, dict) or name not in node:
        return
    if not rest:
        del node[name]
        return
    targets = node[name] if many and isinstance(node[name], list) else [node[name]]
    for target in targets:
        _remove(target, rest)


__all__ = ["LegacyRowError", "Loss", "find_losses", "parse_row", "remove"]
