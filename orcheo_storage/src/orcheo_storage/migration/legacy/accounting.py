"""Field-level accounting helpers: paths in rows, loss errors, target -> source fields."""

from __future__ import annotations

from typing import Any

from orcheo_storage.migration.legacy.fitting import LegacyRowError
from orcheo_storage.migration.legacy.shapes import LEGACY_TABLES, Fate, LegacyTable, walk

MAPPING_DOC = "docs/legacy-mapping.md"
"""Where the mapping table (rendered from :mod:`.shapes`) is published."""


class LegacyLossError(LegacyRowError):
    """A legacy field the migration would lose, and whose loss was not allowed."""


DROPPED_PATHS: dict[tuple[str, str], tuple[str, ...]] = {
    (t.file, t.name): tuple(p for p, f in walk(t.columns, "") if f.fate is Fate.DROPPED)
    for t in LEGACY_TABLES
}


def present(row: dict[str, Any], path: str) -> bool:
    """Whether ``row`` holds a non-null value at ``path`` (in any element, through ``[]``)."""
    return _present(row, path.split("."))


def _present(node: Any, parts: list[str]) -> bool:
    head, rest = parts[0], parts[1:]
    many = head.endswith("[]")
    name = head[:-2] if many else head
    if not isinstance(node, dict) or node.get(name) is None:
        return False
    if not rest:
        return True
    targets = node[name] if many and isinstance(node[name], list) else [node[name]]
    return any(_present(t, rest) for t in targets)


def _target_fields(table: LegacyTable) -> list[tuple[tuple[str, ...], str]]:
    """(target field parts relative to the logical row, legacy path), longest first."""
    out: list[tuple[tuple[str, ...], str]] = []
    prefixes = (f"{table.logical}.credential.", f"{table.logical}.")
    for path, field in walk(table.columns, ""):
        if field.fate not in (Fate.MAPPED, Fate.DERIVED) or not field.to:
            continue
        for prefix in prefixes:
            if field.to.startswith(prefix):
                target = field.to[len(prefix) :].replace("[]", "")
                out.append((tuple(target.split(".")), path))
                break
    out.sort(key=lambda item: len(item[0]), reverse=True)
    return out


_TARGETS = {(t.file, t.name): _target_fields(t) for t in LEGACY_TABLES}


def source_path(table: LegacyTable, field: str) -> str | None:
    """The legacy path behind a target model field named in a validation error.

    ``field`` is dotted and may hold list indexes (``access.roles.0``); the longest mapped
    target that is a prefix of it wins. ``None`` when no legacy field maps there.
    """
    parts = tuple(p for p in field.replace("[", ".").replace("]", "").split(".") if p)
    parts = tuple(p for p in parts if not p.isdigit() and not p.startswith("$"))
    for target, path in _TARGETS[(table.file, table.name)]:
        if parts[: len(target)] == target:
            return path
    return None
