"""``json_contains`` agrees with PostgreSQL's ``jsonb @>`` on generated documents.

The memory and SQLite backends filter with the core function; PostgreSQL uses the operator.
This differential test against a real server keeps them equal.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from orcheo_storage.rules.agentensor import json_contains

pytestmark = pytest.mark.postgres

DSN = os.environ.get("ORCHEO_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")

leaf = st.none() | st.booleans() | st.integers(-2, 2) | st.sampled_from([1.0, 0.5, "a", "b", ""])
docs = st.recursive(
    leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("xyz"), inner, max_size=3)
    ),
    max_leaves=8,
)


def shrink_of(value: Any, data: st.DataObject) -> Any:
    """A random fragment likely to be contained in ``value`` (or nearly)."""
    if isinstance(value, dict):
        keys = data.draw(st.lists(st.sampled_from(sorted(value)), unique=True)) if value else []
        return {k: shrink_of(value[k], data) for k in keys}
    if isinstance(value, list):
        picks = data.draw(st.lists(st.sampled_from(value), max_size=2)) if value else []
        return [shrink_of(v, data) for v in picks]
    return data.draw(st.just(value) | leaf)


@pytest.fixture(scope="module")
def pg() -> Iterator[Any]:
    import psycopg

    with psycopg.connect(DSN, autocommit=True) as conn:
        yield conn


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(docs, st.data())
def test_json_contains_matches_jsonb_containment(
    pg: Any, document: Any, data: st.DataObject
) -> None:
    fragment = data.draw(st.just(shrink_of(document, data)) | docs)
    row = pg.execute(
        "SELECT %s::jsonb @> %s::jsonb", (json.dumps(document), json.dumps(fragment))
    ).fetchone()
    assert json_contains(document, fragment) is row[0], (document, fragment)
