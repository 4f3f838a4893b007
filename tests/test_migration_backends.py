"""Migrations between real backends: SQLite -> PostgreSQL -> SQLite, tampering, dry run."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import migration_support as support
import psycopg
import pytest
from backend_support import DSN, EXAMPLE, base, opened, provisioned
from hypothesis import HealthCheck, Phase, given, settings
from orcheo_storage.cli.app import app
from orcheo_storage.migration.run import migrate
from orcheo_storage.migration.sources import BackendSource
from orcheo_storage.migration.verify import Kind, verify
from orcheo_storage.protocols.backend import BackendSession
from orcheo_storage.settings import StorageSettings
from typer.testing import CliRunner

pytestmark = pytest.mark.postgres


async def _rows(session: BackendSession) -> dict[str, list[Any]]:
    source = BackendSource(session, "x")
    return {t: [r async for batch in source.export_rows(t) for r in batch] for t in source.tables()}


async def _sqlite_pg_sqlite(data: dict[str, Any], tmp: Path) -> None:
    async with AsyncExitStack() as stack:
        s1 = await stack.enter_async_context(provisioned("sqlite", tmp))
        s2 = await stack.enter_async_context(provisioned("postgres", tmp))
        s3 = await stack.enter_async_context(provisioned("sqlite", tmp))
        first = await stack.enter_async_context(opened("sqlite", s1, schema=True))
        await support.populate(first, data, s1)
        pg = await stack.enter_async_context(opened("postgres", s2, schema=False))
        back = await stack.enter_async_context(opened("sqlite", s3, schema=False))
        for source, target, folder in ((first, pg, tmp / "to-pg"), (pg, back, tmp / "to-sqlite")):
            summary = await migrate(BackendSource(source, "src"), target, folder, batch_size=4)
            assert summary.verified is not None
            assert summary.ok, [str(d) for d in summary.verified.differences]
        assert await _rows(first) == await _rows(back)


@settings(
    max_examples=3,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking real databases is slow
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=support.dataset())
def test_round_trip_sqlite_postgres_sqlite(data: dict[str, Any], tmp_path: Path) -> None:
    folder = tmp_path / os.urandom(4).hex()
    folder.mkdir()
    asyncio.run(_sqlite_pg_sqlite(data, folder))


async def test_verify_names_a_changed_a_deleted_and_a_duplicated_row(tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        s1 = await stack.enter_async_context(provisioned("sqlite", tmp_path))
        s2 = await stack.enter_async_context(provisioned("postgres", tmp_path))
        source = await stack.enter_async_context(opened("sqlite", s1, schema=True))
        # Webhook rows are covered by the round trip; the tampering here is in history steps.
        await support.populate(source, EXAMPLE, s1, webhook=False)
        target = await stack.enter_async_context(opened("postgres", s2, schema=False))
        summary = await migrate(BackendSource(source, "src"), target, tmp_path / "e", batch_size=4)
        assert summary.ok, [str(d) for d in summary.verified.differences]
        steps = (await _rows(source))["run_history_steps"]
        changed, deleted, duplicated = steps[1], steps[4], steps[7]
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{s2.postgres_schema}"')
            conn.execute(
                'UPDATE run_history_steps SET payload = \'{"s": "tampered"}\' '
                "WHERE execution_id = %s AND step_index = %s",
                (changed["execution_id"], changed["index"]),
            )
            conn.execute(
                "DELETE FROM run_history_steps WHERE execution_id = %s AND step_index = %s",
                (deleted["execution_id"], deleted["index"]),
            )
            conn.execute("ALTER TABLE run_history_steps DROP CONSTRAINT run_history_steps_pkey")
            conn.execute(
                "INSERT INTO run_history_steps SELECT * FROM run_history_steps "
                "WHERE execution_id = %s AND step_index = %s",
                (duplicated["execution_id"], duplicated["index"]),
            )
        report = await verify(BackendSource(source, "src"), BackendSource(target, "dst"))
        assert not report.ok
        key = lambda row: f"{row['execution_id']}, {row['index']}"  # noqa: E731
        assert {(d.table, d.key, d.kind, d.columns) for d in report.differences} == {
            ("run_history_steps", key(changed), Kind.CHANGED, ("payload",)),
            ("run_history_steps", key(deleted), Kind.MISSING, ()),
            ("run_history_steps", key(duplicated), Kind.DUPLICATE, ()),
        }
        # The CLI exits non-zero and names all three.
        result = await _cli(
            ["migrate", "verify", "--to", "postgres", "--to-schema", str(s2.postgres_schema),
             "--folder", str(tmp_path / "e")],
            env=_env(s1),
        )  # fmt: skip
        assert result.exit_code == 1, result.output
        for row in (changed, deleted, duplicated):
            assert key(row) in result.output


async def _cli(args: list[str], env: dict[str, str]) -> Any:
    # The command runs its own event loop: give it a thread without one.
    return await asyncio.to_thread(CliRunner().invoke, app, args, env=env)


def _env(sqlite_settings: StorageSettings) -> dict[str, str]:
    return {
        "ORCHEO_POSTGRES_DSN": DSN,
        "ORCHEO_VAULT_ENCRYPTION_KEY": "migration-test-key",
        "ORCHEO_REPOSITORY_SQLITE_PATH": str(sqlite_settings.repository_sqlite_path),
    }


@asynccontextmanager
async def own_schema() -> AsyncIterator[StorageSettings]:
    """A brand-new, empty PostgreSQL schema, dropped afterwards."""
    name = f"mig_test_{os.urandom(6).hex()}"
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield base("postgres").model_copy(update={"postgres_schema": name})
    finally:
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def _catalog(schema: str) -> tuple[list[Any], dict[str, int]]:
    with psycopg.connect(DSN, autocommit=True) as conn:
        objects = conn.execute(
            "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s ORDER BY 1",
            (schema,),
        ).fetchall()
        counts = {}
        for (name,) in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchall():
            row = conn.execute(f'SELECT count(*) FROM "{schema}"."{name}"').fetchone()
            assert row is not None
            counts[name] = row[0]
    return objects, counts


def _digests(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.suffix == ".sqlite"
    }


@pytest.mark.parametrize("target_has_schema", [False, True])
async def test_dry_run_changes_nothing_anywhere(tmp_path: Path, target_has_schema: bool) -> None:
    async with AsyncExitStack() as stack:
        s1 = await stack.enter_async_context(provisioned("sqlite", tmp_path))
        # A schema of our own (provisioning may hand out recycled, already-migrated ones).
        s2 = await stack.enter_async_context(own_schema())
        async with opened("sqlite", s1, schema=True) as source:
            await support.populate(source, EXAMPLE, s1)
        if target_has_schema:
            async with opened("postgres", s2, schema=True):
                pass
        schema = str(s2.postgres_schema)
        data_dir = s1.repository_sqlite_path.parent
        before_catalog, before_digests = _catalog(schema), _digests(data_dir)
        folder = tmp_path / "export"
        result = await _cli(
            ["migrate", "run", "--dry-run", "--from", "sqlite", "--from-data-dir", str(data_dir),
             "--to", "postgres", "--to-schema", schema, "--folder", str(folder)],
            env=_env(s1),
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "run_history_steps" in result.output
        assert "nothing was changed" in result.output
        assert ("target schema steps: none" in result.output) is target_has_schema
        assert _catalog(schema) == before_catalog
        assert _digests(data_dir) == before_digests
        assert not folder.exists()


async def test_negative_zero_arrives_or_is_reported(tmp_path: Path) -> None:
    # JSONB numbers are ``numeric``, which has no -0.0; a backend storing verbatim JSON keeps
    # it. Either way the migration must never lose it silently.
    data = {**EXAMPLE, "workflows": [{**EXAMPLE["workflows"][0], "graph": {"z": -0.0}}]}
    async with AsyncExitStack() as stack:
        s1 = await stack.enter_async_context(provisioned("sqlite", tmp_path))
        s2 = await stack.enter_async_context(provisioned("postgres", tmp_path))
        source = await stack.enter_async_context(opened("sqlite", s1, schema=True))
        await support.populate(source, data, s1, webhook=False)
        target = await stack.enter_async_context(opened("postgres", s2, schema=False))
        summary = await migrate(BackendSource(source, "src"), target, tmp_path / "e")
        assert summary.verified is not None
        versions = (await _rows(target))["workflow_versions"]
        kept = math.copysign(1.0, versions[0]["graph"]["z"]) < 0
        assert summary.ok is kept
        if not kept:
            assert [(d.table, d.kind, d.columns) for d in summary.verified.differences] == [
                ("workflow_versions", Kind.CHANGED, ("graph",))
            ]


async def test_cli_run_migrates_and_a_second_run_imports_nothing_again(tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        s1 = await stack.enter_async_context(provisioned("sqlite", tmp_path))
        s2 = await stack.enter_async_context(own_schema())
        async with opened("sqlite", s1, schema=True) as source:
            await support.populate(source, EXAMPLE, s1, webhook=False)
        args = ["migrate", "run", "--from", "sqlite", "--from-data-dir",
                str(s1.repository_sqlite_path.parent), "--to", "postgres", "--to-schema",
                str(s2.postgres_schema), "--folder", str(tmp_path / "e"), "--batch-size", "3",
                "--json"]  # fmt: skip
        first = await _cli(args, _env(s1))
        assert first.exit_code == 0, first.output
        report = json.loads(first.output[first.output.index("{") :])
        assert report["ok"] is True
        assert report["import"]["run_history_steps"] == {
            "source": 15, "imported": 15, "already": 0, "rejected": 0,
        }  # fmt: skip
        assert all(t["differences"] == 0 for t in report["verify"])
        second = await _cli(args, _env(s1))
        assert second.exit_code == 0, second.output
        again = json.loads(second.output[second.output.index("{") :])
        assert all(
            c["imported"] == 0 and c["already"] == c["source"] for c in again["import"].values()
        )
