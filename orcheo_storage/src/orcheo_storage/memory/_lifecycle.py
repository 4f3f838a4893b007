"""Stores of a closed memory session refuse every call, as SQLite's and PostgreSQL's do.

A store handed out by a session keeps a reference to the session's state; without this
check, a store kept past ``close()`` would go on reading and writing records that the
session had dropped.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from orcheo_storage.errors import BackendUnavailableError

S = TypeVar("S", bound=type)

CLOSED_MESSAGE = "the memory storage session is closed"


def refuses_when_closed(cls: S) -> S:
    """Class decorator of a memory store (a class whose ``_state`` is the session's
    :class:`~orcheo_storage.memory._state.MemoryState`): each public ``async`` method raises
    :class:`~orcheo_storage.errors.BackendUnavailableError` once the state is closed."""
    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and inspect.iscoroutinefunction(member):
            setattr(cls, name, _checked(member))
    return cls


def _checked(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(method)
    async def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self._state.closed:
            raise BackendUnavailableError(CLOSED_MESSAGE)
        return await method(self, *args, **kwargs)

    return call
