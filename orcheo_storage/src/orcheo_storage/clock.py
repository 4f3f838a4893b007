"""Timestamps: every stored instant is timezone-aware UTC with microsecond precision.

Every backend takes "now" from :func:`utcnow`, never from ``datetime.now()`` or the
database server's clock. :func:`utcnow` reads the clock of the current context, the
system clock unless a caller installed another one with :func:`use_clock`. The
contract suite installs a :class:`ManualClock` around each namespace it provisions,
freezes it and steps it, so equal timestamps (and their tie-breaks) happen on purpose
and every stored instant can be checked to the microsecond.

The clock lives in a :mod:`contextvars` variable: a backend that runs work on threads
it starts itself carries the caller's context there (``contextvars.copy_context().run``),
or reads :func:`utcnow` in the calling task and passes the instant along.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from orcheo_storage.errors import ValidationError


@runtime_checkable
class Clock(Protocol):
    """Where "now" comes from."""

    def now(self) -> datetime:
        """The current instant, aware UTC."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


class ManualClock:
    """A clock that stands still until it is moved (tests and the contract suite).

    Args:
        start: the first instant; naive is read as UTC.
    """

    def __init__(self, start: datetime) -> None:
        self._now = ensure_utc(start, "start")

    def now(self) -> datetime:
        return self._now

    def set(self, instant: datetime) -> None:
        """Jump to ``instant`` (forwards or backwards)."""
        self._now = ensure_utc(instant, "instant")

    def advance(self, delta: timedelta | float) -> datetime:
        """Move forward by ``delta`` (a timedelta or seconds) and return the new instant."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        self._now = self._now + step
        return self._now

    def __repr__(self) -> str:
        return f"ManualClock({self._now.isoformat()})"


SYSTEM_CLOCK = SystemClock()
_CURRENT: ContextVar[Clock] = ContextVar("orcheo_storage_clock", default=SYSTEM_CLOCK)


def current_clock() -> Clock:
    """The clock of the current context (the system clock unless one was installed)."""
    return _CURRENT.get()


@contextmanager
def use_clock(clock: Clock) -> Iterator[Clock]:
    """Make ``clock`` the source of :func:`utcnow` in this context until the block ends.

    Tasks created inside the block (and threads started with a copy of its context)
    see it too.
    """
    token = _CURRENT.set(clock)
    try:
        yield clock
    finally:
        _CURRENT.reset(token)


def utcnow() -> datetime:
    """Return the current instant as an aware UTC datetime (from :func:`current_clock`)."""
    clock = _CURRENT.get()
    if clock is SYSTEM_CLOCK:  # the hot path: no conversion needed
        return datetime.now(UTC)
    return ensure_utc(clock.now())


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
