"""Schema-qualified SQL (``_qualify``): the rewrite rules, and the catalogue facts they rely on."""

from __future__ import annotations

import re

import pytest
from orcheo_storage_postgres._cursors import cursor_classes
from orcheo_storage_postgres._db import CATALOGUE
from orcheo_storage_postgres._qualify import Qualifier
from orcheo_storage_postgres.langgraph import LANGGRAPH_TABLES
from orcheo_storage_postgres.schema import STEPS
from psycopg import sql

Q = Qualifier("tenant_a", {"workflows", "workflow_runs", "service_token_audit"})


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("SELECT id FROM workflows WHERE id = %s", 'SELECT id FROM "tenant_a".workflows WHERE id = %s'),
        ("UPDATE workflows w SET x = 1", 'UPDATE "tenant_a".workflows w SET x = 1'),
        ("INSERT INTO workflows(id) VALUES (%(workflows)s)",
         'INSERT INTO "tenant_a".workflows(id) VALUES (%(workflows)s)'),
        # a column reference prefixed with the table name stays as written
        ("ON CONFLICT (id) DO UPDATE SET n = workflows.n + 1",
         "ON CONFLICT (id) DO UPDATE SET n = workflows.n + 1"),
        ("SELECT w.workflows FROM x w", "SELECT w.workflows FROM x w"),
        ('SELECT * FROM "workflows"', 'SELECT * FROM "tenant_a"."workflows"'),
        ('SELECT * FROM "other"."workflows"', 'SELECT * FROM "other"."workflows"'),
        ("SELECT pg_get_serial_sequence('service_token_audit', 'seq')",
         "SELECT pg_get_serial_sequence('\"tenant_a\".service_token_audit', 'seq')"),
        ("SELECT 'workflows are fun' FROM workflow_runs",
         'SELECT \'workflows are fun\' FROM "tenant_a".workflow_runs'),
        ("SELECT 1 -- from workflows\nFROM workflow_runs",
         'SELECT 1 -- from workflows\nFROM "tenant_a".workflow_runs'),
        ("/* workflows */ SELECT 1", "/* workflows */ SELECT 1"),
        ("DO $$ BEGIN EXECUTE 'x'; END $$; DELETE FROM workflows",
         'DO $$ BEGIN EXECUTE \'x\'; END $$; DELETE FROM "tenant_a".workflows'),
        ("SELECT workflows_id, my_workflows FROM workflow_runs_x",
         "SELECT workflows_id, my_workflows FROM workflow_runs_x"),
        ("select * from WORKFLOWS", 'select * from "tenant_a".WORKFLOWS'),
    ],
)  # fmt: skip
def test_rewrite(query: str, expected: str) -> None:
    assert Q(query) == expected
    assert Q(query.encode()) == expected


def test_composed_queries_are_rendered_then_qualified() -> None:
    query = sql.SQL("SELECT {} FROM {}").format(sql.Identifier("id"), sql.Identifier("workflows"))
    assert Q(query) == 'SELECT "id" FROM "tenant_a"."workflows"'


def test_each_statement_is_rewritten_once() -> None:
    q = Qualifier("s", {"workflows"})
    text = "SELECT 1 FROM workflows"
    first = q(text)
    assert q(text) is first


def test_cursor_classes_are_shared_per_schema() -> None:
    assert cursor_classes("s1", CATALOGUE) is cursor_classes("s1", CATALOGUE)
    assert cursor_classes("s1", CATALOGUE) is not cursor_classes("s2", CATALOGUE)


def test_no_other_name_of_the_schema_equals_a_table_name() -> None:
    """The rewrite treats every catalogue word as a table: columns, indexes, constraints and
    sequences must never be named like a table (of ours or LangGraph's)."""
    text = "\n".join(step.sql for step in STEPS)
    tables = CATALOGUE | LANGGRAPH_TABLES
    columns = set(re.findall(r"^\s+(\w+) [A-Z]", text, re.MULTILINE))
    columns |= set(re.findall(r"ADD COLUMN (\w+)", text))
    indexes = set(re.findall(r"CREATE (?:UNIQUE )?INDEX (\w+)", text))
    constraints = set(re.findall(r"CONSTRAINT (\w+)", text))
    assert {"id", "workflow_id"} <= columns  # the parsing finds them
    assert not tables & (columns | indexes | constraints)
    assert "orcheo_schema_migrations" in CATALOGUE
    assert {"workflows", "chat_items", "orcheo_migration_ledger"} <= CATALOGUE
