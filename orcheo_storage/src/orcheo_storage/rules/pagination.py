"""Opaque keyset cursors: base64 of a small JSON array of sort-key values."""

from __future__ import annotations

import base64
import json
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


def check_limit(limit: int, maximum: int = 10_000) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1 or limit > maximum:
        raise ValidationError(f"limit must be an integer between 1 and {maximum}", field="limit")
    return limit
