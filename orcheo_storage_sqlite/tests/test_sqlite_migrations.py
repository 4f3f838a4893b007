"""Schema migrations: pinned steps, plan without applying, concurrent start-ups."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from orcheo_storage.errors import ConfigurationError
from orcheo_storage_sqlite.engine import Database
from orcheo_storage_sqlite.migrations import apply, plan
from orcheo_storage_sqlite.schema import COMPONENTS, Step
from orcheo_storage_sqlite.session import SqliteSession

# Checksums of every shipped step. A failure here means a shipped step was edited:
# revert it and append a new step instead.
PINNED = {
    ("repository", 1): "967eac76764f07a5e034b246aa968e58fc83f5b1d183cc6b64bdad26a65bfbf7",
    ("repository", 2): "2666488c4ea76d51bc11c280e8b5b58b1cee9a1d1507ed28f7790eb8921e263e",
    ("repository", 3): "5989ff26ad6985dd45bb1bee85784e31ac70a09c8ce4a8d356c690c8161f4d16",
    ("repository", 4): "b799d2194584931e0e1ba01a41c0d0f5a28b8bef7bd4f181793877d0e62b7982",
    ("repository", 5): "f457a282e9620cdb9c0b04d22084e97f65618b0aa6c3aced8193ed8936ae3cc9",
    ("repository", 6): "8c1578eaeb11f30dcc6b96cf8399c50ef8ef0826dadb18d08db57d913716ec14",
    ("repository", 7): "4e3b34c258b9cfaf2030a1d50066c07908d9bf40751302fe1a79da71baa1ba79",
    ("repository", 8): "3cc085a019a3c6d6fbb09b7d329adc4276651bc956138ea8f391f9c54ad7f870",
    ("repository", 9): "1457832592b691e7e376b44a141a0b9437bba4298d471afa4ee6f33c887f03ce",
    ("tokens", 1): "d59709b6fbc0313357480684800e5563f46c3db5b22f137584a53b96b03316ae",
    ("tokens", 2): "7e135b31c66a44dffe6abf4992858984760f6bfa6678795ed5717350e41766fc",
    ("vault", 1): "c2e3acb968ecbb55658610667401c2c01fd2c7c920aedf7c82fb1fb207ba0c53",
    ("vault", 2): "fd6adde3639b6c002a589581e290a31e62ea27cf38cc47454eefef8a1d34aa75",
    ("vault", 3): "8e0b0d75e5f669242f30f56b45dad304844052fa4122aa56958dead4e0f4df09",
    ("chat", 1): "716ee75c61df84af26954b60ffb10eb343a9109647dc23f4912e80fd5fb223b8",
}


def test_shipped_steps_are_pinned() -> None:
    actual = {(c, s.version): s.checksum for c, steps in COMPONENTS.items() for s in steps}
    assert actual == PINNED


def test_steps_are_ordered_and_gapless() -> None:
    for steps in COMPONENTS.values():
        assert [s.version for s in steps] == list(range(1, len(steps) + 1))


async def test_plan_lists_pending_steps_without_applying(tmp_path: Path, make_settings) -> None:
    settings = make_settings(tmp_path, auto_migrate=False)
    session = await SqliteSession.open(settings)
    try:
        pending = await session.migrate_schema(dry_run=True)
        total = sum(len(s) for s in COMPONENTS.values())
        assert len(pending) == total
        assert (await session.schema_status()).current == 0
        # Still nothing applied: the plan did not change the database.
        assert await session.migrate_schema(dry_run=True) == pending
        applied = await session.migrate_schema()
        assert applied == pending
        status = await session.schema_status()
        assert (status.current, status.latest, status.pending) == (total, total, [])
        assert await session.migrate_schema() == []
    finally:
        await session.close()


async def test_unmigrated_database_gives_a_clear_error(tmp_path: Path, make_settings) -> None:
    session = await SqliteSession.open(make_settings(tmp_path, auto_migrate=False))
    try:
        with pytest.raises(ConfigurationError, match="migrate-schema"):
            await session.service_tokens().list_all()
    finally:
        await session.close()


async def test_concurrent_startups_apply_each_step_once(tmp_path: Path, make_settings) -> None:
    settings = make_settings(tmp_path)
    sessions = await asyncio.gather(*(SqliteSession.open(settings) for _ in range(6)))
    try:
        with sqlite3.connect(tmp_path / "workflows.sqlite") as conn:
            rows = conn.execute(
                "SELECT component, version, count(*) FROM orcheo_schema_migrations "
                "GROUP BY component, version"
            ).fetchall()
        assert rows
        assert all(count == 1 for _, _, count in rows)
        assert {(c, v) for c, v, _ in rows} == {
            (c, s.version) for c in ("repository",) for s in COMPONENTS[c]
        }
    finally:
        for s in sessions:
            await s.close()


async def test_edited_step_is_refused(tmp_path: Path) -> None:
    db = Database(tmp_path / "x.sqlite")
    await db.open()
    try:
        original = (Step(1, "t", ("CREATE TABLE t (a INTEGER)",)),)
        assert await apply(db, {"demo": original}) == ["demo:0001 t"]
        edited = (Step(1, "t", ("CREATE TABLE t (a TEXT)",)),)
        with pytest.raises(ConfigurationError, match="differs"):
            await plan(db, {"demo": edited})
        with pytest.raises(ConfigurationError, match="newer"):
            await apply(db, {"demo": ()})
    finally:
        await db.close()
