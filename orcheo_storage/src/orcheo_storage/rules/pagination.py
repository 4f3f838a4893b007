"""Opaque keyset cursors: base64 of a small JSON array of sort-key values."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from orcheo_storage.errors import ValidationError


def encode_cursor(*values: Any) -> str:
    raw = json.dumps(
        [str(v) if not isinstance(v, int | str) else v for v in values], separators=(",", ":")
    )
    return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    """Decode a cursor made by :func:`encode_cursor`.

    Raises:
        ValidationError: the cursor is malformed.
    """
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
    except (ValueError, UnicodeError) as exc:
        raise ValidationError("malformed pagination cursor", field="cursor") from exc
    if not isinstance(values, list) or len(values) != arity:
        raise ValidationError("malformed pagination cursor", field="cursor")
    return values


def decode_time_cursor(
    cursor: str | None, parse_key: Callable[[str], Any] = str
) -> tuple[datetime, Any] | None:
    """Decode a ``(timestamp, key)`` cursor: ``None`` for the first page.

    The timestamp must carry its offset (every cursor made here does) and the key must
    parse with ``parse_key`` (``uuid.UUID`` for entities keyed by id).

    Raises:
        ValidationError: the cursor is malformed (field ``cursor``).
    """
    if cursor is None:
        return None
    stamp, key = decode_cursor(cursor, 2)
    try:
        at = datetime.fromisoformat(str(stamp))
        parsed = parse_key(str(key))
    except (ValueError, TypeError):
        raise ValidationError("malformed pagination cursor", field="cursor") from None
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValidationError("malformed pagination cursor", field="cursor")
    return at, parsed


def check_after_index(after_index: int) -> int:
    """A step-list position: ``-1`` (from the start) or the index of a step already seen.

    Raises:
        ValidationError: below ``-1`` (no position, so no answer: a literal reading of
            "index > after_index" would return every step for ``-2`` while slicing
            backends would return the last one).
    """
    if after_index < -1:
        raise ValidationError("after_index must be at least -1", field="after_index")
    return after_index


def check_limit(limit: int, maximum: int = 10_000) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1 or limit > maximum:
        raise ValidationError(f"limit must be an integer between 1 and {maximum}", field="limit")
    return limit
