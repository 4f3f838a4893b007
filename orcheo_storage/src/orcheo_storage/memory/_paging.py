"""Newest-first keyset pagination over ``(timestamp, key)`` sort keys."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

from orcheo_storage.errors import ValidationError
from orcheo_storage.rules.pagination import decode_cursor, encode_cursor

T = TypeVar("T")
SortKey = tuple[datetime, Any]


def decode_time_cursor(cursor: str | None, parse_key: Callable[[str], Any] = str) -> SortKey | None:
    """Decode a ``(timestamp, key)`` cursor made by :func:`keyset_page`.

    Args:
        cursor: the opaque cursor, or ``None`` for the first page.
        parse_key: turns the cursor's key text back into the sort key's type.

    Raises:
        ValidationError: the cursor is malformed.
    """
    if cursor is None:
        return None
    stamp, key = decode_cursor(cursor, 2)
    try:
        return (datetime.fromisoformat(str(stamp)), parse_key(str(key)))
    except ValueError:
        raise ValidationError("malformed pagination cursor", field="cursor") from None


def keyset_page(
    rows: Iterable[T], key: Callable[[T], SortKey], *, after: SortKey | None, limit: int
) -> tuple[list[T], str | None]:
    """The first ``limit`` rows (by ``key`` descending) strictly after ``after``.

    Returns:
        The page and the cursor of the next page (``None`` on the last page).
    """
    if after is not None:
        rows = [row for row in rows if key(row) < after]
    # nlargest is O(n log limit): no full sort of a large table per page.
    window = heapq.nlargest(limit + 1, rows, key=key)
    page = window[:limit]
    if len(window) <= limit:
        return page, None
    stamp, ident = key(page[-1])
    return page, encode_cursor(stamp.isoformat(), str(ident))
