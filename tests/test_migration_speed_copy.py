"""The one-payload COPY of bulk imports stores exactly what psycopg's write_row stores.

Rows of hostile text (backslashes, tabs, newlines, carriage returns, a literal ``\\N``,
empty strings, non-ASCII), big and negative integers, booleans, NULLs and JSON with
escapes go into two tables on a real PostgreSQL: once as the payload of
:func:`~orcheo_storage_postgres._copytext.copy_text`, once row by row with psycopg's
adaptation. Both tables must hold the same values, and those must be the rows' values.
"""

from __future__ import annotations

import math
import os
import uuid
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from orcheo_storage.jsoncodec import canonical_dumps, dumps, loads
from orcheo_storage_postgres._copytext import copy_text
from orcheo_storage_postgres._rows import jsonb

pytestmark = pytest.mark.postgres

DSN = os.environ.get("ORCHEO_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
COLUMNS = ("id", "note", "n", "flag", "doc")
JSON = frozenset({"doc"})

hostile = st.lists(
    st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=3)
    | st.sampled_from(["\\", "\t", "\n", "\r", "\\N", "\\.", '"', "\x7f", "é", "🚀"]),
    max_size=5,
).map("".join)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    # JSONB's numeric has no negative zero: -0.0 comes back as 0.0 on either path.
    | st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: math.copysign(1, f) > 0)
    | st.decimals(allow_nan=False, allow_infinity=False, places=3)
    | hostile,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile, inner, max_size=3),
    max_leaves=12,
)
rows = st.lists(
    st.fixed_dictionaries(
        {
            "id": st.uuids().map(str),
            "note": st.none() | hostile,
            "n": st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1),
            "flag": st.none() | st.booleans(),
            "doc": st.none() | st.dictionaries(hostile, json_values, max_size=4),
        }
    ),
    max_size=6,
)


@pytest.fixture(scope="module")
def schema() -> Any:
    name = f"helperb_copy_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
        for table in ("by_payload", "by_row"):
            conn.execute(
                f"CREATE TABLE {name}.{table} (ord int, id uuid, note text, n bigint, "
                "flag boolean, doc jsonb)"
            )
    yield name
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {name} CASCADE")


def _stored(conn: psycopg.Connection[Any], schema: str, table: str) -> list[tuple[Any, ...]]:
    cur = conn.execute(
        f"SELECT id::text, note, n, flag, doc::text FROM {schema}.{table} ORDER BY ord"
    )
    return [(*r[:4], None if r[4] is None else loads(r[4])) for r in cur.fetchall()]


def _numbered(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"ord": i, **row} for i, row in enumerate(batch)]


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows)
def test_the_payload_stores_what_write_row_stores(schema: str, batch: list[dict[str, Any]]) -> None:
    numbered = _numbered(batch)
    columns = ("ord", *COLUMNS)
    payload = copy_text(numbered, columns, JSON)
    assert payload is not None
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {schema}.by_payload, {schema}.by_row")
        names = ", ".join(columns)
        with conn.cursor() as cur:
            with cur.copy(f"COPY {schema}.by_payload ({names}) FROM STDIN") as copy:
                copy.write(payload)
            with cur.copy(f"COPY {schema}.by_row ({names}) FROM STDIN") as copy:
                for row in numbered:
                    copy.write_row(
                        tuple(
                            jsonb(row[c]) if c in JSON and row[c] is not None else row[c]
                            for c in columns
                        )
                    )
        by_payload = _stored(conn, schema, "by_payload")
        assert by_payload == _stored(conn, schema, "by_row")
    expected = [(r["id"], r["note"], r["n"], r["flag"], r["doc"]) for r in batch]
    # JSON compares through the codec (exact numbers, JSONB reorders keys); the rest as stored.
    assert [(*r[:4], canonical_dumps(r[4]) if r[4] else r[4]) for r in by_payload] == [
        (*r[:4], canonical_dumps(loads(dumps(r[4]))) if r[4] else r[4]) for r in expected
    ]


@pytest.mark.parametrize(
    "value",
    [1.5, Decimal("1.5"), uuid.UUID(int=1), "lone \ud800 surrogate", b"bytes"],
)
def test_other_value_types_fall_back_to_write_row(value: Any) -> None:
    assert copy_text([{"note": value}], ("note",), frozenset()) is None
    if isinstance(value, str):
        assert copy_text([{"doc": {"k": value}}], ("doc",), JSON) is None


def test_the_payload_is_the_text_format() -> None:
    row = {"a": "x\ty\nz\r\\", "b": None, "c": -7, "d": True, "e": {"k": 'q"\\\n'}}
    payload = copy_text([row, row], ("a", "b", "c", "d", "e"), frozenset({"e"}))
    line = b'x\\ty\\nz\\r\\\\\t\\N\t-7\tt\t{"k":"q\\\\"\\\\\\\\\\\\n"}\n'
    assert payload == line * 2
