"""Row encodings: the batch-file line form and the canonical form checksums use.

Both are pure functions of a logical row's values, so the same row read from any
backend encodes to the same bytes.

- :func:`encode_line` writes one JSON Lines record. The fast path is the C encoder of
  :mod:`json`; its float literals (``1e+30``) decode through
  :func:`orcheo_storage.jsoncodec.loads` to exactly the same values as the codec's own
  positional literals, so rows round-trip identically. Rows holding a ``Decimal`` fall
  back to :func:`orcheo_storage.jsoncodec.dumps`.
- :func:`line_and_digest` gives an export's line (keys sorted) and the row's digest from
  one encoding.
- :func:`canonical_row` is the canonical form checksums are computed over: sorted keys,
  type-tagged numbers, timestamps as UTC with microseconds (see its docstring).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

from orcheo_storage import _jsonfast
from orcheo_storage.jsoncodec import JsonObject, JsonValue, canonical_dumps, dumps

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_SORTED = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, sort_keys=True
)


def _stdlib_spelling(value: JsonValue) -> bytes | None:
    """orjson's encoding when it is byte for byte the standard library's (else ``None``).

    orjson spells floats below 1e-4 differently (``1e-7``, ``0.00001`` for ``1e-07``,
    ``1e-05``); any exponent or tiny positional literal sends the row to the stdlib.
    """
    out = _jsonfast.encode(value, sort_keys=False)
    if out is None or _jsonfast.has_exponent(out) or _jsonfast.has_tiny_positional(out):
        return None
    return out


def _sorted_spelling(value: JsonValue) -> tuple[bytes, bytes] | None:
    """:func:`_stdlib_spelling` with sorted keys, and its shape for :func:`canonical_bytes`
    (one translation serves the exponent check and the timestamp scan)."""
    out = _jsonfast.encode(value, sort_keys=True)
    if out is None:
        return None
    shape = out.translate(_jsonfast.EXPONENT_SHAPE)
    if _jsonfast.has_exponent(out, shape) or _jsonfast.has_tiny_positional(out):
        return None
    return out, shape


def _encode_line_stdlib(row: JsonValue) -> bytes:
    try:
        text = _ENCODER.encode(row)
    except TypeError:
        text = dumps(row)
    return text.encode("utf-8") + b"\n"


def encode_line(row: JsonValue) -> bytes:
    """One JSON Lines line (UTF-8, newline-terminated) for ``row``.

    The bytes are those of the standard library's C encoder (orjson when it writes the
    same bytes), so batch checksums do not depend on which path encoded a row.

    Raises:
        ValueError: the row holds a non-finite number.
    """
    out = _stdlib_spelling(row)
    return _encode_line_stdlib(row) if out is None else out + b"\n"


# An ISO-8601 timestamp as a whole JSON string: date, "T", time, optional fraction and offset.
_TIMESTAMP = re.compile(r'"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?)(Z|[+-]\d\d:\d\d)?"')


def _utc_stamp(stamp: str, offset: str | None, original: str) -> str:
    text = stamp + ("+00:00" if offset in (None, "Z") else offset)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return original
    return '"' + parsed.astimezone(UTC).isoformat(timespec="microseconds") + '"'


def _utc_match(match: re.Match[str]) -> str:
    return _utc_stamp(match.group(1), match.group(2), match.group(0))


def canonical_text(text: str) -> str:
    """Rewrite every timestamp string in encoded JSON as UTC with microseconds."""
    return _TIMESTAMP.sub(_utc_match, text)


# The same rewrite on UTF-8 bytes, visiting only what can match (``"dddd-dd-ddTdd:dd:dd``,
# found with ``bytes.find`` after mapping digits to ``0``, and ``+`` to ``-``, which only adds
# candidates the match then turns down) and skipping stamps already in the canonical form
# (six fraction digits, ``+00:00``), which the rewrite leaves as they are.
_STAMP_START = b'"0000-00-00T00:00:00'
_TIMESTAMP_BYTES = re.compile(
    rb'"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?)'
    rb'(Z|[+-][0-9]{2}:[0-9]{2})?"'
)


def canonical_bytes(data: bytes, shape: bytes | None = None) -> bytes:
    """:func:`canonical_text` for UTF-8 JSON bytes (the same result, encoded).

    ``shape``, when given, is ``data.translate(_jsonfast.EXPONENT_SHAPE)``.
    """
    if shape is None:
        shape = data.translate(_jsonfast.EXPONENT_SHAPE)
    at = shape.find(_STAMP_START)
    if at == -1:
        return data
    parts: list[bytes] = []
    done = 0
    while at != -1:
        match = _TIMESTAMP_BYTES.match(data, at)
        if match is None:
            at = shape.find(_STAMP_START, at + 1)
            continue
        stamp, offset = match.group(1), match.group(2)
        if len(stamp) != 26 or offset != b"+00:00":
            zone = None if offset is None else offset.decode()
            text = _utc_stamp(stamp.decode(), zone, match.group(0).decode())
            parts += (data[done:at], text.encode())
            done = match.end()
        at = shape.find(_STAMP_START, match.end())
    parts.append(data[done:])
    return b"".join(parts)


def canonical_row(row: JsonObject) -> bytes:
    """The canonical bytes of ``row``: what per-row checksums are computed over.

    Sorted keys and type-tagged numbers as :func:`~orcheo_storage.jsoncodec.canonical_dumps`
    (``1`` and ``1.0`` differ), and every ISO timestamp string, at any depth, spelled as
    UTC with microseconds (``...Z``, ``...+00:00`` and ``...+02:00`` forms of one instant
    compare equal). Rows without ``Decimal`` values take the C encoder's spelling, which
    writes some floats differently (``1e+30``) but is just as much a function of the value,
    so both sides of a comparison still produce the same bytes for the same row. orjson
    produces these bytes when its output is the C encoder's, byte for byte.
    """
    shaped = _sorted_spelling(row)
    return _canonical_row_stdlib(row) if shaped is None else canonical_bytes(*shaped)


def _canonical_row_stdlib(row: JsonObject) -> bytes:
    try:
        text = _SORTED.encode(row)
    except TypeError:
        text = canonical_dumps(row)
    return canonical_text(text).encode("utf-8")


def line_and_digest(row: JsonObject) -> tuple[bytes, bytes]:
    """A batch line for ``row`` with its keys sorted, and its :func:`row_digest`.

    The line is the sorted encoding the canonical form is made from, so one encoding
    serves both when orjson writes the standard library's bytes; otherwise each takes its
    exact path (the standard library's sorted encoder, then the codec for ``Decimal``).

    Raises:
        ValueError: the row holds a non-finite number.
    """
    shaped = _sorted_spelling(row)
    if shaped is not None:
        return shaped[0] + b"\n", hashlib.sha256(canonical_bytes(*shaped)).digest()
    try:
        line = _SORTED.encode(row)
    except TypeError:
        line = canonical_dumps(row)
    return line.encode("utf-8") + b"\n", hashlib.sha256(_canonical_row_stdlib(row)).digest()


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
