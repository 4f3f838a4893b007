"""Statements rendered once: the bytes psycopg sends, cached per session.

psycopg turns a ``sql.Composed`` into bytes on every execute (walking its parts and
escaping each identifier) and encodes a ``str`` statement on every execute. The stores'
statements are constants, so a :class:`Statements` renders each one once (and, when a
schema is configured, qualifies it: :mod:`._qualify`) and then serves the same
:class:`Rendered` bytes object: psycopg's own caches (placeholder conversion, prepared
statements) are keyed by those bytes, whose hash is computed once too.

One :class:`Statements` per schema, catalogue and client encoding (see
:func:`._cursors.cursor_classes`), so a statement is never served to a session of
another schema. Composed statements are cached by identity (the cache keeps a reference,
so an id is never reused while cached), text by value. The cache is bounded: when full it
starts again, so statements built per call (bulk transfers) cannot grow it without end.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from psycopg import sql
from psycopg.abc import AdaptContext

CACHE_LIMIT = 4096


class Rendered(bytes):
    """A statement already rendered by a :class:`Statements`: sent as is."""

    __slots__ = ()


class Statements:
    """Renders statements to :class:`Rendered` bytes once.

    Args:
        encoding: the Python name of the connections' client encoding.
        qualify: rewrites a statement's text to name the session's schema (or ``None``).
    """

    def __init__(self, encoding: str, qualify: Callable[[str], str] | None = None) -> None:
        self.encoding = encoding
        self.qualify = qualify
        self._by_text: dict[str, Rendered] = {}
        self._by_id: dict[int, tuple[sql.Composable, Rendered]] = {}

    def __repr__(self) -> str:
        return f"Statements(encoding={self.encoding!r}, cached={len(self)})"

    def __len__(self) -> int:
        return len(self._by_text) + len(self._by_id)

    def __call__(self, query: Any, context: AdaptContext | None = None) -> Any:
        """``query`` (text, bytes or a ``psycopg.sql`` object) as rendered bytes."""
        if type(query) is Rendered:
            return query
        if isinstance(query, str):
            done = self._by_text.get(query)
            return done if done is not None else self._text(query)
        if isinstance(query, sql.Composable):
            hit = self._by_id.get(id(query))
            if hit is not None and hit[0] is query:
                return hit[1]
            done = self._render(query.as_string(context))
            if len(self._by_id) >= CACHE_LIMIT:
                self._by_id.clear()
            self._by_id[id(query)] = (query, done)
            return done
        if isinstance(query, bytes):
            return self(query.decode(self.encoding), context)
        return query  # a template string or something newer: psycopg handles it

    def _text(self, text: str) -> Rendered:
        done = self._render(text)
        if len(self._by_text) >= CACHE_LIMIT:
            self._by_text.clear()
        self._by_text[text] = done
        return done

    def _render(self, text: str) -> Rendered:
        if self.qualify is not None:
            text = self.qualify(text)
        return Rendered(text.encode(self.encoding))
