"""Parsing caller-supplied state names: an unknown name is a validation error, not a crash."""

from __future__ import annotations

import enum
from typing import TypeVar

from orcheo_storage.errors import ValidationError

E = TypeVar("E", bound=enum.Enum)


def parse_state(kind: type[E], value: E | str, *, entity: str, field: str) -> E:
    """``kind(value)``, the same way on every backend.

    Raises:
        ValidationError: ``value`` names no member of ``kind`` ("unknown <entity> status").
    """
    try:
        return kind(value)
    except ValueError:
        raise ValidationError(f"unknown {entity} status: {value!r}", field=field) from None
