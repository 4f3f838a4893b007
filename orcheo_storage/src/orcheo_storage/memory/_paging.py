"""Newest-first keyset pagination over sorted ``(timestamp, key)`` indexes."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from orcheo_storage.errors import ValidationError
from orcheo_storage.rules.pagination import decode_cursor, encode_cursor

K = TypeVar("K", bound=tuple[datetime, Any])


def decode_time_cursor(
    cursor: str | None, parse_key: Callable[[str], Any] = str
) -> tuple[datetime, Any] | None:
    """Decode a ``(timestamp, key)`` cursor made by :func:`newest_first_page`.

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


def newest_first_page(
    keys: list[K], *, after: tuple[datetime, Any] | None, limit: int
) -> tuple[list[K], str | None]:
    """A page of an ascending-sorted key index, read newest first.

    Args:
        keys: the index, sorted ascending.
        after: the decoded cursor: the page holds keys strictly below it.
        limit: the page size.

    Returns:
        The page's keys (descending) and the next page's cursor (``None`` on the last).
    """
    end = len(keys) if after is None else bisect.bisect_left(keys, after)
    start = max(0, end - limit)
    page = keys[start:end][::-1]
    if start == 0 or not page:
        return page, None
    stamp, ident = page[-1]
    return page, encode_cursor(stamp.isoformat(), str(ident))
