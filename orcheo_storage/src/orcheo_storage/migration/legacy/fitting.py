"""Fitting legacy JSON into this project's models, keeping note of what does not fit."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from orcheo_storage.errors import ValidationError
from orcheo_storage.jsoncodec import JsonObject, loads
from orcheo_storage.models.common import build

M = TypeVar("M", bound=BaseModel)


class LegacyRowError(ValidationError):
    """A legacy row that cannot be mapped (names file, table, key and reason)."""


class Notes:
    """Counts of legacy fields or columns that have no place in the logical rows."""

    def __init__(self) -> None:
        self.dropped: Counter[str] = Counter()

    def drop(self, where: str) -> None:
        self.dropped[where] += 1

    def lines(self) -> list[str]:
        return [f"{where}: dropped in {n} row(s)" for where, n in sorted(self.dropped.items())]


def parse_json(text: Any, where: str) -> Any:
    """Decode a JSON TEXT column (``None`` stays ``None``; non-text is returned as is)."""
    if text is None or not isinstance(text, str | bytes):
        return text
    try:
        return loads(text)
    except (ValueError, ValidationError) as exc:
        raise LegacyRowError(f"{where}: not valid JSON ({exc})") from None


def as_object(value: Any, where: str) -> JsonObject:
    value = parse_json(value, where)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise LegacyRowError(f"{where}: expected a JSON object, got {type(value).__name__}")
    return value


def utc_text(value: Any) -> str | None:
    """An ISO timestamp TEXT column as aware UTC ISO text (naive read as UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).isoformat()
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat()


def fit(model: type[M], data: dict[str, Any], where: str, notes: Notes) -> M:
    """Build ``model`` from ``data``, dropping (and noting) fields the model lacks.

    Raises:
        LegacyRowError: the data is invalid for the model even after dropping extras.
    """
    known = model.model_fields
    kept: dict[str, Any] = {}
    for name, value in data.items():
        if name in known:
            kept[name] = value
        elif value not in (None, [], {}, ""):
            notes.drop(f"{where}.{name}")
    try:
        return build(model, **kept)
    except ValidationError as exc:
        raise LegacyRowError(f"{where}: {exc}") from None


def dump(model: BaseModel, **extra: Any) -> JsonObject:
    """The logical-row JSON of ``model`` plus ``extra`` columns."""
    row: JsonObject = model.model_dump(mode="json")
    row.update(extra)
    return row
