"""Row encodings: the batch-file line form and the canonical form checksums use.

Both are pure functions of a logical row's values, so the same row read from any
backend encodes to the same bytes.

- :func:`encode_line` writes one JSON Lines record. The fast path is the C encoder of
  :mod:`json`; its float literals (``1e+30``) decode through
  :func:`orcheo_storage.jsoncodec.loads` to exactly the same values as the codec's own
  positional literals, so rows round-trip identically. Rows holding a ``Decimal`` fall
  back to :func:`orcheo_storage.jsoncodec.dumps`.
- :func:`canonical_row` is the canonical form checksums are computed over: sorted keys,
  type-tagged numbers, timestamps as UTC with microseconds (see its docstring).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

from orcheo_storage.jsoncodec import JsonObject, JsonValue, canonical_dumps, dumps

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_SORTED = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, sort_keys=True
)


def encode_line(row: JsonValue) -> bytes:
    """One JSON Lines line (UTF-8, newline-terminated) for ``row``.

    Raises:
        ValueError: the row holds a non-finite number.
    """
    try:
        text = _ENCODER.encode(row)
    except TypeError:
        text = dumps(row)
    return text.encode("utf-8") + b"\n"


# An ISO-8601 timestamp as a whole JSON string: date, "T", time, optional fraction and offset.
_TIMESTAMP = re.compile(r'"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?)(Z|[+-]\d\d:\d\d)?"')


def _utc_match(match: re.Match[str]) -> str:
    stamp, offset = match.group(1), match.group(2)
    text = stamp + ("+00:00" if offset in (None, "Z") else offset)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return match.group(0)
    return '"' + parsed.astimezone(UTC).isoformat(timespec="microseconds") + '"'


def canonical_text(text: str) -> str:
    """Rewrite every timestamp string in encoded JSON as UTC with microseconds."""
    return _TIMESTAMP.sub(_utc_match, text)


def canonical_row(row: JsonObject) -> bytes:
    """The canonical bytes of ``row``: what per-row checksums are computed over.

    Sorted keys and type-tagged numbers as :func:`~orcheo_storage.jsoncodec.canonical_dumps`
    (``1`` and ``1.0`` differ), and every ISO timestamp string, at any depth, spelled as
    UTC with microseconds (``...Z``, ``...+00:00`` and ``...+02:00`` forms of one instant
    compare equal). Rows without ``Decimal`` values take the C encoder, which spells some
    floats differently (``1e+30``) but is just as much a function of the value, so both
    sides of a comparison still produce the same bytes for the same row.
    """
    try:
        text = _SORTED.encode(row)
    except TypeError:
        text = canonical_dumps(row)
    return canonical_text(text).encode("utf-8")


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
