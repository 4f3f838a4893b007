"""Make arbitrary Python values JSON-safe for run-history inputs and step payloads.

One function, used by every backend, so that the same input produces the same stored
document everywhere.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import PurePath
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from orcheo_storage.errors import ValidationError
from orcheo_storage.jsoncodec import JsonObject, JsonValue, normalise_json

RECURSION_MARKER = "<recursion>"


def to_json_safe(value: Any) -> JsonValue:
    """Convert ``value`` into plain JSON data.

    datetimes and dates -> ISO 8601; UUID, Decimal and paths -> strings; enums -> their
    value; sets -> lists (sorted when comparable); pydantic models and dataclasses ->
    dicts; self-references -> ``"<recursion>"``; anything else -> ``str(value)``.
    Strings and numbers are then validated like any JSON input.

    Raises:
        ValidationError: the value contains hostile text or non-finite numbers (float or
            Decimal NaN / Infinity).
    """
    return normalise_json(_convert(value, set()))


def to_json_object(value: Any) -> JsonObject:
    """:func:`to_json_safe`, wrapping anything that is not a mapping as ``{"value": ...}``."""
    safe = to_json_safe(value)
    if isinstance(safe, dict):
        return safe
    return {"value": safe}


def _convert(value: Any, seen: set[int]) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return _convert(value.value, seen)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal) and not value.is_finite():
        # would otherwise become the string "NaN": non-finite numbers are rejected everywhere
        raise ValidationError("non-finite numbers (NaN, Infinity) are not allowed")
    if isinstance(value, UUID | Decimal | PurePath):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    marker = id(value)
    if marker in seen:
        return RECURSION_MARKER
    seen = seen | {marker}
    if isinstance(value, BaseModel):
        return _convert(value.model_dump(mode="python"), seen)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _convert({f.name: getattr(value, f.name) for f in dataclasses.fields(value)}, seen)
    if isinstance(value, Mapping):
        return {str(k): _convert(v, seen) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        items = [_convert(v, seen) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(value, list | tuple):
        return [_convert(v, seen) for v in value]
    return str(value)
