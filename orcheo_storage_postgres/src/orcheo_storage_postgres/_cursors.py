"""Cursor classes that send rendered statements (:mod:`._statements`).

Every statement a pooled connection executes goes through the session's
:class:`~._statements.Statements`: rendered (and schema-qualified) once, then served from
the cache. Installed by the pool's ``configure`` callback, so whichever code executes on
a pooled connection (stores, LangGraph's saver) gets the same treatment.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, ClassVar

from psycopg import AsyncCursor, AsyncServerCursor
from psycopg.abc import AdaptContext

from orcheo_storage_postgres._qualify import Qualifier
from orcheo_storage_postgres._statements import Statements


def _cursor_classes(statements: Statements) -> tuple[type[Any], type[Any]]:
    class RenderingCursor(AsyncCursor[Any]):
        """A client cursor sending the session's rendered statements."""

        render: ClassVar[Callable[[Any, AdaptContext | None], Any]] = statements

        async def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
            return await super().execute(type(self).render(query, self), *args, **kwargs)

        async def executemany(self, query: Any, *args: Any, **kwargs: Any) -> None:
            await super().executemany(type(self).render(query, self), *args, **kwargs)

        def stream(self, query: Any, *args: Any, **kwargs: Any) -> Any:
            return super().stream(type(self).render(query, self), *args, **kwargs)

        def copy(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
            return super().copy(type(self).render(statement, self), *args, **kwargs)

    class RenderingServerCursor(AsyncServerCursor[Any]):
        """A named (server-side) cursor sending the session's rendered statements."""

        render: ClassVar[Callable[[Any, AdaptContext | None], Any]] = statements

        async def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
            return await super().execute(type(self).render(query, self), *args, **kwargs)

    return RenderingCursor, RenderingServerCursor


@lru_cache(maxsize=64)
def cursor_classes(
    schema: str | None, tables: frozenset[str], encoding: str = "utf-8"
) -> tuple[type[Any], type[Any]]:
    """The client and server cursor classes for ``schema`` (``None``: unqualified) and
    ``encoding``: one pair per schema, catalogue and encoding, so every connection of a
    session shares one statement cache (bounded: a process that provisions many schemas
    keeps the recent ones)."""
    qualify = None if schema is None else Qualifier(schema, tables).rewrite
    return _cursor_classes(Statements(encoding, qualify))
