"""Schema-qualified SQL: how ``ORCHEO_POSTGRES_SCHEMA`` works without any session state.

A ``search_path`` set per connection (the ``options`` startup parameter or a ``SET``) does not
survive a pooler in transaction mode: PgBouncer refuses the ``options`` parameter or drops it,
and a ``SET`` lands on whichever server connection ran it, for whoever gets it next. So when a
schema is configured, every statement names it: the connections of a session get cursor
classes (:mod:`._cursors`) that render each statement once (:mod:`._statements`), putting
``"schema".`` before every table of the backend's catalogue, and then serve the rendered
bytes from a cache. A simple read stays one round trip and costs a dictionary lookup.

The rewrite is lexical and deliberately narrow. Outside string literals, quoted text,
comments and named placeholders, a word equal to a catalogue table name (not preceded or
followed by a dot) is a table reference, as is a quoted identifier equal to one; a string
literal whose whole content is a table name (``pg_get_serial_sequence('t', ...)``,
``'t'::regclass``) names that table too. No column, index or constraint of the schema is
named like a table (``tests/test_qualify.py`` checks it), so nothing else is touched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from psycopg import sql
from psycopg.abc import AdaptContext

_TOKEN = re.compile(
    r"""
      (?P<literal>'(?:[^']|'')*')
    | (?P<quoted>"(?:[^"]|"")*")
    | \$(?P<tag>[A-Za-z_]\w*)?\$.*?\$(?P=tag)?\$
    | --[^\n]*
    | /\*.*?\*/
    | %\([^)]*\)[sbt]
    | (?P<word>[A-Za-z_][\w$]*)
    """,
    re.VERBOSE | re.DOTALL,
)
_CACHE_LIMIT = 4096


class Qualifier:
    """Rewrites SQL so that the tables of ``tables`` are looked up in ``schema``.

    Args:
        schema: the schema name (validated by the settings: lower case, no quoting needed).
        tables: the unqualified table names of the catalogue.
    """

    def __init__(self, schema: str, tables: Iterable[str]) -> None:
        self.schema = schema
        self.tables = frozenset(tables)
        self._prefix = '"' + schema.replace('"', '""') + '".'
        self._cache: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"Qualifier(schema={self.schema!r}, tables={len(self.tables)})"

    def __call__(self, query: Any, context: AdaptContext | None = None) -> Any:
        """``query`` (text, bytes or a ``psycopg.sql`` object) with its tables qualified."""
        if isinstance(query, str):
            text = query
        elif isinstance(query, bytes):
            text = query.decode("utf-8")
        elif isinstance(query, sql.Composable):
            text = query.as_string(context)
        else:  # a template string or something newer: leave it to psycopg
            return query
        done = self._cache.get(text)
        if done is None:
            done = self.rewrite(text)
            if len(self._cache) < _CACHE_LIMIT:
                self._cache[text] = done
        return done

    def rewrite(self, text: str) -> str:
        """The rewrite itself (uncached)."""
        return _TOKEN.sub(lambda m: self._replace(m, text), text)

    def _replace(self, match: re.Match[str], text: str) -> str:
        token = match.group(0)
        start, end = match.span()
        before = text[start - 1] if start else ""
        after = text[end] if end < len(text) else ""
        if before == "." or after == ".":
            return token
        word = match.group("word")
        if word is not None:
            return self._prefix + word if word.lower() in self.tables else token
        quoted = match.group("quoted")
        if quoted is not None:
            name = quoted[1:-1].replace('""', '"')
            return self._prefix + quoted if name in self.tables else token
        literal = match.group("literal")
        if literal is not None and literal[1:-1] in self.tables and before not in ("E", "e"):
            return "'" + self._prefix.replace("'", "''") + literal[1:-1] + "'"
        return token
