"""Row encodings: the batch-file line form and the canonical form checksums use.

Both are pure functions of a logical row's values, so the same row read from any
backend encodes to the same bytes.

- :func:`encode_line` writes one JSON Lines record. The fast path is the C encoder of
  :mod:`json`; its float literals (``1e+30``) decode through
  :func:`orcheo_storage.jsoncodec.loads` to exactly the same values as the codec's own
  positional literals, so rows round-trip identically. Rows holding a ``Decimal`` fall
  back to :func:`orcheo_storage.jsoncodec.dumps`.
- :func:`canonical_row` is :func:`orcheo_storage.jsoncodec.canonical_dumps` (sorted keys,
  type-tagged numbers: ``1`` and ``1.0`` differ) after timestamp columns are rewritten as
  UTC with microseconds, so ``...Z`` and ``...+00:00`` spellings compare equal.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from orcheo_storage.jsoncodec import JsonObject, JsonValue, canonical_dumps, dumps

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_SORTED = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, sort_keys=True
)


def encode_line(row: JsonObject) -> bytes:
    """One batch-file line (UTF-8, newline-terminated) for ``row``.

    Raises:
        ValueError: the row holds a non-finite number.
    """
    try:
        text = _ENCODER.encode(row)
    except TypeError:
        text = dumps(row)
    return text.encode("utf-8") + b"\n"


def _is_time_column(name: str) -> bool:
    return name.endswith("_at") or name in ("at", "timestamp")


def _utc_text(value: str) -> str:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat(timespec="microseconds")


CANONICAL_TIME_DEPTH = 3
"""How deep timestamp fields are normalised: the model fields (``credential.created_at``,
``audit_log[i].at``) sit within three levels; user JSON below is compared as it is."""


def _canonical_value(value: JsonValue, depth: int) -> JsonValue:
    if depth >= CANONICAL_TIME_DEPTH:
        return value
    if isinstance(value, dict):
        return _canonical_object(value, depth + 1)
    if isinstance(value, list):
        return [_canonical_value(item, depth + 1) for item in value]
    return value


def _canonical_object(row: JsonObject, depth: int) -> JsonObject:
    out: dict[str, JsonValue] = {}
    for name, value in row.items():
        if isinstance(value, str):
            out[name] = _utc_text(value) if _is_time_column(name) else value
        elif isinstance(value, dict | list):
            out[name] = _canonical_value(value, depth)
        else:
            out[name] = value
    return out


def canonical_form(row: JsonObject) -> JsonObject:
    """``row`` with timestamp fields (``*_at``, ``at``, ``timestamp``, down to
    :data:`CANONICAL_TIME_DEPTH` levels) spelled as UTC with microseconds."""
    return _canonical_object(row, 0)


def canonical_row(row: JsonObject) -> bytes:
    """The canonical bytes of ``row``: what per-row checksums are computed over.

    Sorted keys and type-tagged numbers as :func:`~orcheo_storage.jsoncodec.canonical_dumps`.
    Rows without ``Decimal`` values take the C encoder, which spells some floats
    differently (``1e+30``) but is just as much a function of the value, so both sides
    of a comparison still produce the same bytes for the same row, 5-10x faster.
    """
    form = canonical_form(row)
    try:
        text = _SORTED.encode(form)
    except TypeError:
        text = canonical_dumps(form)
    return text.encode("utf-8")


def row_digest(row: JsonObject) -> bytes:
    """SHA-256 of :func:`canonical_row` (raw 32 bytes)."""
    return hashlib.sha256(canonical_row(row)).digest()


def _column(row: JsonObject, column: str) -> Any:
    if "." not in column:
        return row.get(column)
    value: Any = row
    for part in column.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def row_key(row: JsonObject, key: tuple[str, ...]) -> tuple[Any, ...]:
    """The key columns of ``row``; dotted names reach into objects; missing reads as ``None``."""
    return tuple(_column(row, column) for column in key)


def key_text(key: tuple[Any, ...]) -> str:
    """A key as people read it: ``id=...`` or ``(thread_id=..., ordinal=...)``."""
    return ", ".join(str(part) for part in key)
