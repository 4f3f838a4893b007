"""Statements rendered once (``_statements``) and the cursor classes that send them."""

from __future__ import annotations

from orcheo_storage_postgres._cursors import cursor_classes
from orcheo_storage_postgres._db import CATALOGUE
from orcheo_storage_postgres._qualify import Qualifier
from orcheo_storage_postgres._statements import Rendered, Statements
from psycopg import sql

from orcheo_storage_postgres import _statements

QUERY = sql.SQL("SELECT {} FROM {} WHERE id = %(id)s").format(
    sql.Identifier("name"), sql.Identifier("workflows")
)


def test_a_composed_statement_is_rendered_once() -> None:
    statements = Statements("utf-8")
    first = statements(QUERY)
    assert isinstance(first, Rendered)
    assert first == b'SELECT "name" FROM "workflows" WHERE id = %(id)s'
    assert statements(QUERY) is first
    assert statements(first) is first  # already rendered: passed through


def test_text_statements_are_cached_by_value() -> None:
    statements = Statements("utf-8")
    first = statements("SELECT 1 FROM workflows")
    assert statements("SELECT 1 FROM " + "workflows") is first
    assert statements(b"SELECT 1 FROM workflows") is first


def test_statements_are_qualified_per_schema() -> None:
    a = Statements("utf-8", Qualifier("tenant_a", CATALOGUE).rewrite)
    b = Statements("utf-8", Qualifier("tenant_b", CATALOGUE).rewrite)
    assert a(QUERY) == b'SELECT "name" FROM "tenant_a"."workflows" WHERE id = %(id)s'
    assert b(QUERY) == b'SELECT "name" FROM "tenant_b"."workflows" WHERE id = %(id)s'


def test_an_equal_but_distinct_composed_statement_is_not_confused() -> None:
    statements = Statements("utf-8")
    other = sql.SQL("SELECT {} FROM {} WHERE id = %(id)s").format(
        sql.Identifier("other"), sql.Identifier("workflows")
    )
    assert statements(QUERY) != statements(other)


def test_the_cache_is_bounded() -> None:
    statements = Statements("utf-8")
    limit = _statements.CACHE_LIMIT
    for i in range(limit + 10):
        statements(f"SELECT {i}")
        statements(sql.SQL("SELECT {}").format(sql.Literal(i)))
    assert len(statements) <= 2 * limit


def test_cursor_classes_are_shared_per_schema_and_encoding() -> None:
    assert cursor_classes("s1", CATALOGUE) is cursor_classes("s1", CATALOGUE)
    assert cursor_classes(None, CATALOGUE) is cursor_classes(None, CATALOGUE)
    assert cursor_classes("s1", CATALOGUE) is not cursor_classes("s2", CATALOGUE)
    assert cursor_classes("s1", CATALOGUE, "utf-8") is not cursor_classes(
        "s1", CATALOGUE, "latin-1"
    )
