"""The backend behind a real PgBouncer in transaction mode (issue 13).

The PgBouncer roles make mistakes loud: ``orcheo_bouncer``'s default search_path names a
schema that does not exist (a statement not naming its schema fails instead of landing in
``public``) and both roles default to a non-UTC time zone. The whole contract suite also
runs through PgBouncer in ``scripts/test.sh``, with and without a schema setting.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from orcheo_storage.settings import StorageSettings
from orcheo_storage.storage import open_storage
from orcheo_storage_postgres.plugin import PostgresBackend
from orcheo_storage_postgres.provisioning_db import DatabaseProvisioner
from orcheo_storage_postgres.testing_pgbouncer import PLAIN_ROLE, SCHEMA_ROLE, PgBouncer

from .conftest import make_settings


def through(bouncer: PgBouncer, role: str, **overrides: object) -> StorageSettings:
    return make_settings(bouncer.dsn(role), postgres_prepare_threshold=None, **overrides)


@pytest.fixture
async def schema_settings(
    pgbouncer: PgBouncer, pg_dsn: str, tmp_path: Path
) -> AsyncIterator[StorageSettings]:
    async with PostgresBackend().provision(make_settings(pg_dsn), tmp_path) as provisioned:
        assert provisioned.postgres_schema is not None
        yield through(pgbouncer, SCHEMA_ROLE, postgres_schema=provisioned.postgres_schema)


async def test_the_schema_setting_works_behind_pgbouncer(
    schema_settings: StorageSettings, pg_dsn: str
) -> None:
    schema = schema_settings.postgres_schema
    async with open_storage(schema_settings) as storage:
        wf = await storage.workflows.create_workflow(name="Behind the bouncer", actor="t")
        version = await storage.workflows.create_version(wf.id, graph={"n": 1}, created_by="t")
        run = await storage.workflows.create_run(
            wf.id, workflow_version_id=version.id, triggered_by="t"
        )
        again = await storage.workflows.get_workflow(wf.id)
        assert again.created_at == wf.created_at
        # the role's time zone is Pacific/Chatham: values still come back in UTC
        assert again.created_at.utcoffset() == timedelta(0)
        assert (await storage.workflows.get_run(run.id)).created_at.utcoffset() == timedelta(0)
        history = await storage.history.start_run(execution_id="e-1", workflow_id=str(wf.id))
        assert history.started_at.utcoffset() == timedelta(0)
        assert (await storage.workflows.list_workflows())[0].id == wf.id
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        count = conn.execute(f'SELECT count(*) FROM "{schema}".workflows').fetchone()
        assert count == (1,)
        public = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = 'workflows'"
        ).fetchone()
    if public and public[0]:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            leaked = conn.execute(
                "SELECT count(*) FROM public.workflows WHERE id = %s", (wf.id,)
            ).fetchone()
        assert leaked == (0,)


async def test_two_schemas_behind_pgbouncer_stay_apart(
    pgbouncer: PgBouncer, pg_dsn: str, tmp_path: Path
) -> None:
    backend = PostgresBackend()
    async with (
        backend.provision(make_settings(pg_dsn), tmp_path) as a,
        backend.provision(make_settings(pg_dsn), tmp_path) as b,
    ):
        settings_a = through(pgbouncer, SCHEMA_ROLE, postgres_schema=a.postgres_schema)
        settings_b = through(pgbouncer, SCHEMA_ROLE, postgres_schema=b.postgres_schema)
        async with open_storage(settings_a) as tenant_a, open_storage(settings_b) as tenant_b:
            await tenant_a.workflows.create_workflow(name="A's", actor="t", handle="same")
            await tenant_b.workflows.create_workflow(name="B's", actor="t", handle="same")
            for _ in range(5):  # different server connections serve successive statements
                assert [w.name for w in await tenant_a.workflows.list_workflows()] == ["A's"]
                assert [w.name for w in await tenant_b.workflows.list_workflows()] == ["B's"]


async def test_the_langgraph_checkpointer_uses_the_schema_behind_pgbouncer(
    schema_settings: StorageSettings, pg_dsn: str
) -> None:
    pytest.importorskip("langgraph.checkpoint.postgres")
    from langgraph.checkpoint.base import empty_checkpoint

    schema = schema_settings.postgres_schema
    thread = f"t-{uuid.uuid4().hex[:8]}"
    config = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
    async with (
        open_storage(schema_settings) as storage,
        storage.langgraph_checkpointer() as saver,
    ):
        checkpoint = empty_checkpoint()
        await saver.aput(config, checkpoint, {"source": "input", "step": 0}, {})
        stored = await saver.aget_tuple(config)
        assert stored is not None
        assert stored.checkpoint["id"] == checkpoint["id"]
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        row = conn.execute(
            f'SELECT count(*) FROM "{schema}".checkpoints WHERE thread_id = %s', (thread,)
        ).fetchone()
    assert row == (1,)


async def test_without_a_schema_setting_behind_pgbouncer(pgbouncer: PgBouncer, pg_dsn: str) -> None:
    base = through(pgbouncer, PLAIN_ROLE)
    async with DatabaseProvisioner(keep=0).provision(base) as settings:
        assert settings.postgres_schema is None
        async with open_storage(settings) as storage:
            wf = await storage.workflows.create_workflow(name="No schema", actor="t")
            again = await storage.workflows.get_workflow(wf.id)
            assert again.updated_at == wf.updated_at
            assert again.updated_at.utcoffset() == timedelta(0)
            token_count = len(await storage.service_tokens.list_all())
            assert token_count == 0
