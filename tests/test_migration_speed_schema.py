"""Schema step 9: the big PostgreSQL documents are compressed with lz4 where the server can.

A fresh schema migrated to the latest step has lz4 on the document columns (this
server is built with lz4: checked first, so the assertion can fail); the documents
stored there come back intact through the bulk hooks, and a long one is stored
compressed with lz4.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from orcheo_storage.settings import BACKEND_SETTINGS, StorageSettings
from orcheo_storage_postgres.plugin import PostgresBackend
from orcheo_storage_postgres.schema import STEPS

pytestmark = pytest.mark.postgres

DSN = os.environ.get("ORCHEO_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
LZ4_COLUMNS = {
    ("run_history_steps", "payload"),
    ("chat_items", "item"),
    ("workflow_versions", "graph"),
    ("workflow_runs", "input_payload"),
    ("workflow_runs", "output_payload"),
    ("run_histories", "inputs"),
    ("agentensor_checkpoints", "runnable_config"),
    ("agentensor_checkpoints", "metrics"),
}


@pytest.fixture
def schema() -> Iterator[str]:
    name = f"helperb_lz4_{uuid.uuid4().hex[:8]}"
    yield name
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


def _server_has_lz4() -> bool:
    with psycopg.connect(DSN, autocommit=True) as conn:
        try:
            conn.execute("CREATE TEMP TABLE helperb_lz4_probe (x text COMPRESSION lz4)")
        except psycopg.errors.FeatureNotSupported:
            return False
    return True


def test_the_step_is_step_nine() -> None:
    assert (STEPS[8].version, STEPS[8].name) == (9, "lz4_documents")


async def test_documents_use_lz4_and_round_trip(schema: str) -> None:
    assert _server_has_lz4()
    settings = StorageSettings(
        **dict.fromkeys(BACKEND_SETTINGS, "postgres"),
        postgres_dsn=DSN,
        postgres_schema=schema,
        vault_encryption_key="test-key-not-secret",
        auto_migrate=True,
    )
    session = await PostgresBackend().open(settings)
    try:
        bulk = session.bulk()
        payload = {"text": "lz4 " * 5000, "score": 0.1 + 0.2, "n": 2**70}
        row = {"execution_id": "e1", "index": 0, "at": "2024-05-01T10:00:00+00:00"}
        history = {
            "execution_id": "e1",
            "workflow_id": "w1",
            "inputs": {},
            "runnable_config": {},
            "tags": [],
            "callbacks": [],
            "metadata": {},
            "status": "completed",
            "started_at": "2024-05-01T10:00:00+00:00",
        }
        assert await bulk.import_batch("run_histories", [history], batch_id="h:0")
        assert await bulk.import_batch(
            "run_history_steps", [{**row, "payload": payload}], batch_id="s:0"
        )
        rows = [r async for batch in bulk.export_rows("run_history_steps") for r in batch]
        assert [r["payload"] for r in rows] == [payload]
    finally:
        await session.close()
    with psycopg.connect(DSN, autocommit=True) as conn:
        found = conn.execute(
            "SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s "
            "AND c.relkind = 'r' AND a.attcompression = 'l'",
            (schema,),
        ).fetchall()
        assert set(found) == LZ4_COLUMNS
        method = conn.execute(
            f"SELECT pg_column_compression(payload) FROM {schema}.run_history_steps"
        ).fetchone()
        assert method == ("lz4",)
