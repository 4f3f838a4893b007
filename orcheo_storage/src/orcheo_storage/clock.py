"""Timestamps: every stored instant is timezone-aware UTC with microsecond precision."""

from __future__ import annotations

from datetime import UTC, datetime

from orcheo_storage.errors import ValidationError


def utcnow() -> datetime:
    """Return the current instant as an aware UTC datetime."""
    return datetime.now(UTC)


def ensure_utc(value: datetime, field: str | None = None) -> datetime:
    """Return ``value`` as aware UTC; a naive datetime is read as UTC.

    Raises:
        ValidationError: ``value`` is not a datetime.
    """
    if not isinstance(value, datetime):
        raise ValidationError("must be a datetime", field=field)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def optional_utc(value: datetime | None, field: str | None = None) -> datetime | None:
    """:func:`ensure_utc` that passes ``None`` through."""
    return None if value is None else ensure_utc(value, field)
