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
    """What one legacy read did not carry over, counted by legacy field path.

    Attributes:
        dropped: documented drops (``dropped`` fate in the shapes) that held a value.
        lost: fields removed because the operator allowed their loss (``--allow-loss``).
        absent: legacy files or tables that were not there (nothing to carry).
    """

    def __init__(self) -> None:
        self.dropped: Counter[str] = Counter()
        self.lost: Counter[str] = Counter()
        self.absent: list[str] = []

    def lines(self) -> list[str]:
        out = [
            f"{where}: dropped (documented) in {n} row(s)"
            for where, n in sorted(self.dropped.items())
        ]
        out += [
            f"{where}: LOST (--allow-loss) in {n} row(s)" for where, n in sorted(self.lost.items())
        ]
        return out + self.absent

    def as_dict(self) -> dict[str, Any]:
        return {"dropped": dict(self.dropped), "lost": dict(self.lost), "absent": list(self.absent)}


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


def payload_of(row: dict[str, Any], *mirrors: str) -> dict[str, Any]:
    """A copy of the row's payload, with the mirrored columns filling absent keys."""
    value = row.get("payload")
    if not isinstance(value, dict):
        raise LegacyRowError("payload: expected a JSON object", field="payload")
    payload = dict(value)
    for column in mirrors:
        if column not in payload and row.get(column) is not None:
            payload[column] = row[column]
    return payload


def strict(model: type[M], data: Any, prefix: str = "") -> M:
    """Build ``model`` from ``data`` with every rule of the model (unknown keys refused).

    Args:
        prefix: where the model sits in the logical row (``policy``), so an error names
            the logical field (``policy.max_attempts``).

    Raises:
        LegacyRowError: the data does not fit; ``field`` names the logical field.
    """
    if not isinstance(data, dict):
        raise LegacyRowError(
            f"expected a JSON object, got {type(data).__name__}", field=prefix or None
        )
    try:
        return build(model, **data)
    except ValidationError as exc:
        message = str(exc).split(": ", 1)[-1] if exc.field else str(exc)
        field = ".".join(p for p in (prefix, exc.field) if p) or None
        raise LegacyRowError(message, field=field) from None


def dump(model: BaseModel, **extra: Any) -> JsonObject:
    """The logical-row JSON of ``model`` plus ``extra`` columns."""
    row: JsonObject = model.model_dump(mode="json")
    row.update(extra)
    return row
