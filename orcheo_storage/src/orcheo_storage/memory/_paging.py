"""Newest-first keyset pagination over sorted ``(timestamp, key)`` indexes."""

from __future__ import annotations

import bisect
from datetime import datetime
from typing import Any, TypeVar

from orcheo_storage.rules.pagination import encode_cursor

K = TypeVar("K", bound=tuple[datetime, Any])


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
