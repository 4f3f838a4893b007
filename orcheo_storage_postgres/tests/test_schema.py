"""Schema migrations: past steps pinned, advisory-locked apply, plan-only, tamper detection."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from orcheo_storage.errors import ConfigurationError
from orcheo_storage.settings import StorageSettings
from orcheo_storage_postgres._db import direct_connection
from orcheo_storage_postgres.schema import LATEST, STEPS
from psycopg import sql

from orcheo_storage_postgres import migrations

from .conftest import make_settings

# Released steps are immutable: editing one must fail here. Add a new step instead.
PINNED = {
    1: "f2dd5df7af1f4b0f2f43c0d19fcdaee5d60655e6c5962878659340116edb3a31",
    2: "cf1ed3203c569a856147609199e7269670c93445a1bdbe214e3a801e153dea34",
    3: "bb9f11a16d857529826b0679c2c42bc16e5861912e942b18c26a665cf04f8286",
    4: "1fb4bf6d2ea612bf16a44d9f460c4e5ddd43ff14b18a529cfb73232b935aa419",
    5: "d4c8b54ffb9e5ff0cb6be03d89c2052b3c8bdd210ee412140e4811f932ec1d23",
    6: "c5956767dd4c4c9c29502d821e1bc898d65e9669354d915b90500bc81f0cfc9e",
    7: "78b6bae3e22b1f27e09bf1e3ee81557ed05e1ceea11806619831e6f54f75a538",
    8: "140634363753af5a96db3146accf0f24d24020f8cfca8eaaf93eddf6c89a6f65",
    9: "7a24cb16535fecf2a4e2765658c854a76f872148e313e23daa4a64a87156b42f",
    10: "fefca4e21c7cdb2cb32c62f244f43e4e2f3c8a15fe5b6237edbc4e055a5474c1",
    11: "1c5c361cdeaed3c4e33489b67328d781ba8fa15c994394d799c41a78e80267cf",
}


def test_past_steps_are_pinned() -> None:
    assert [s.version for s in STEPS] == list(range(1, len(STEPS) + 1))
    for step in STEPS:
        if step.version in PINNED:
            assert step.checksum == PINNED[step.version], (
                f"schema step {step.version} was edited; add a new step instead"
            )
    assert set(PINNED) <= {s.version for s in STEPS}, "a released step was removed"


@pytest.fixture
async def fresh_schema(pg_dsn: str) -> object:
    schema = f"orcheo_mig_{uuid.uuid4().hex[:12]}"
    settings = make_settings(pg_dsn, postgres_schema=schema)
    yield settings
    async with direct_connection(make_settings(pg_dsn)) as conn:
        await conn.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
        )


async def test_plan_then_concurrent_apply(fresh_schema: StorageSettings) -> None:
    settings = fresh_schema
    schema = settings.postgres_schema
    async with direct_connection(settings) as conn:
        plan = await migrations.migrate(conn, schema, dry_run=True)
        assert plan == [s.name for s in STEPS]
        assert (await migrations.status(conn, schema)).current == 0  # plan changed nothing

    async def apply() -> list[str]:
        async with direct_connection(settings) as conn:
            return await migrations.migrate(conn, schema)

    # Several processes starting at once: the advisory lock makes each step apply once.
    results = await asyncio.gather(*(apply() for _ in range(5)))
    assert sorted(len(r) for r in results) == [0, 0, 0, 0, len(STEPS)]
    async with direct_connection(settings) as conn:
        status = await migrations.status(conn, schema)
        assert (status.current, status.latest, status.pending) == (LATEST, LATEST, [])
        assert await migrations.migrate(conn, schema) == []


async def test_edited_step_is_refused(fresh_schema: StorageSettings) -> None:
    settings = fresh_schema
    async with direct_connection(settings) as conn:
        await migrations.migrate(conn, settings.postgres_schema)
        await conn.execute(
            sql.SQL(
                "UPDATE {}.orcheo_schema_migrations SET checksum = 'x' WHERE version = 1"
            ).format(sql.Identifier(settings.postgres_schema or ""))
        )
        with pytest.raises(ConfigurationError, match="differs"):
            await migrations.migrate(conn, settings.postgres_schema)
