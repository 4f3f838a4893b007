"""The vocabulary of the legacy shapes: fates, kinds, fields and legacy tables.

See :mod:`.shapes` for what the fates mean and where the shapes of each table are.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Fate(enum.StrEnum):
    MAPPED = "mapped"
    DERIVED = "derived"
    MIRROR = "mirror"
    DROPPED = "dropped"


class Kind(enum.StrEnum):
    """The JSON (or column) type a legacy field holds; ``None`` is always allowed."""

    TEXT = "text"
    INT = "int"
    NUMBER = "number"
    BOOL = "bool"  # JSON true/false, or INTEGER 0/1 in a column
    TIME = "time"  # ISO-8601 text
    LIST = "list"  # a list of scalars
    JSON = "json"  # any JSON value, kept whole (free-form documents)
    JSON_TEXT = "json text"  # a TEXT column holding any JSON value, kept whole
    OBJECT = "object"  # a typed object: its keys are listed (``fields``)
    OBJECTS = "objects"  # a list of typed objects (``fields`` describe each)
    DOCUMENT = "document"  # a TEXT column holding a typed JSON object (``fields``)


@dataclass(frozen=True)
class Field:
    """One legacy column or JSON key.

    Attributes:
        name: the column or key name.
        kind: what it holds.
        fate: see the module docstring.
        to: the target field (``logical_table.field``), or for a mirror the legacy field
            it copies.
        note: why (required for ``derived`` and ``dropped``).
        fields: the keys of an ``object`` / ``objects`` / ``document``.
    """

    name: str
    kind: Kind
    fate: Fate
    to: str = ""
    note: str = ""
    fields: tuple[Field, ...] = ()

    def child(self, name: str) -> Field | None:
        for field in self.fields:
            if field.name == name:
                return field
        return None


@dataclass(frozen=True)
class LegacyTable:
    """A legacy table: its file, name, the logical table(s) it feeds, and its columns."""

    file: str
    name: str
    logical: str
    columns: tuple[Field, ...]

    def column(self, name: str) -> Field | None:
        for field in self.columns:
            if field.name == name:
                return field
        return None


def mapped(name: str, kind: Kind, to: str, note: str = "") -> Field:
    return Field(name, kind, Fate.MAPPED, to, note)


def mirror(name: str, kind: Kind, of: str) -> Field:
    return Field(name, kind, Fate.MIRROR, of)


def derived(name: str, kind: Kind, to: str, note: str) -> Field:
    return Field(name, kind, Fate.DERIVED, to, note)


def dropped(name: str, kind: Kind, note: str) -> Field:
    return Field(name, kind, Fate.DROPPED, "", note)


def typed(name: str, kind: Kind, to: str, *fields: Field, note: str = "") -> Field:
    return Field(name, kind, Fate.MAPPED, to, note, tuple(fields))


def audit_field(table: str) -> Field:
    return typed(
        "audit_log",
        Kind.OBJECTS,
        f"{table}.audit_log",
        mapped("actor", Kind.TEXT, f"{table}.audit_log[].actor"),
        mapped("action", Kind.TEXT, f"{table}.audit_log[].action"),
        mapped("at", Kind.TIME, f"{table}.audit_log[].at"),
        mapped("metadata", Kind.JSON, f"{table}.audit_log[].metadata"),
    )


def stamps(table: str) -> tuple[Field, ...]:
    return (
        mapped("id", Kind.TEXT, f"{table}.id"),
        mapped("created_at", Kind.TIME, f"{table}.created_at"),
        mapped("updated_at", Kind.TIME, f"{table}.updated_at"),
        audit_field(table),
    )


def scope_field(to: str) -> Field:
    return typed(
        "scope",
        Kind.OBJECT,
        to,
        mapped("workflow_ids", Kind.LIST, f"{to}.workflow_ids"),
        mapped("workspace_ids", Kind.LIST, f"{to}.workspace_ids"),
        mapped("roles", Kind.LIST, f"{to}.roles"),
        note="Orcheo calls the access scope `scope`",
    )
