"""Newest-first keyset pagination over ``(timestamp, key)`` sort keys."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TypeVar

from orcheo_storage.errors import ValidationError
from orcheo_storage.rules.pagination import decode_cursor, encode_cursor

T = TypeVar("T")
SortKey = tuple[datetime, str]


def decode_time_cursor(cursor: str | None) -> SortKey | None:
    """Decode a ``(timestamp, key)`` cursor made by :func:`keyset_page`.

    Raises:
        ValidationError: the cursor is malformed.
    """
    if cursor is None:
        return None
    stamp, key = decode_cursor(cursor, 2)
    try:
        return (datetime.fromisoformat(str(stamp)), str(key))
    except ValueError:
        raise ValidationError("malformed pagination cursor", field="cursor") from None


def keyset_page(
    rows: Iterable[T], key: Callable[[T], SortKey], *, after: SortKey | None, limit: int
) -> tuple[list[T], str | None]:
    """The first ``limit`` rows (sorted by ``key`` descending) strictly after ``after``.

    Returns:
        The page and the cursor of the next page (``None`` on the last page).
    """
    ordered = sorted(rows, key=key, reverse=True)
    if after is not None:
        ordered = [row for row in ordered if key(row) < after]
    page = ordered[:limit]
    if len(ordered) <= limit:
        return page, None
    stamp, ident = key(page[-1])
    return page, encode_cursor(stamp.isoformat(), ident)
