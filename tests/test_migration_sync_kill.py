"""Kill test: ``orcheo-storage migrate sync`` SIGKILLed at random points, then run to the end.

Today's Orcheo files are copied into a real PostgreSQL schema, then changed (hundreds of
new and edited history steps, a deleted chat item). The sync command is started as its own
process and killed while it scans, between batches, and inside a batch's transaction; a
last run finishes. The target must then equal a fresh copy of the changed files, with every
sync batch in the ledger once.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import legacy_files as legacy
import psycopg
import pytest
from kill_support import kill_when
from orcheo_storage.migration.run import migrate, open_backend
from orcheo_storage.migration.sources import BackendSource
from orcheo_storage.migration.sync import read_state
from orcheo_storage.migration.tables import LOGICAL_TABLES
from orcheo_storage.migration.verify import verify
from orcheo_storage.plugins.registry import create_registry

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CLI = str(Path(sys.executable).with_name("orcheo-storage"))
KILLS = 6


def _change(data: Path) -> None:
    repo = sqlite3.connect(data / "workflows.sqlite")
    repo.executemany(
        "INSERT INTO execution_history_steps VALUES ('exec-1', ?, ?, ?)",
        [(i, legacy.T, json.dumps({"i": i, "text": "y" * (i % 40)})) for i in range(3, 403)],
    )
    repo.execute(
        "UPDATE execution_history_steps SET payload = '{\"edited\": 1}' WHERE step_index < 3"
    )
    repo.commit()
    repo.close()
    chat = sqlite3.connect(data / "chatkit.sqlite")
    chat.execute("DELETE FROM chat_messages WHERE id = 'msg_0'")
    chat.commit()
    chat.close()


def _sync_ledger(schema: str) -> list[str]:
    with psycopg.connect(legacy.DSN, autocommit=True) as conn:
        rows = conn.execute(
            f'SELECT batch_id FROM "{schema}".orcheo_migration_ledger '
            "WHERE batch_id LIKE 'sync:%%'"
        ).fetchall()
    return [str(r[0]) for r in rows]


def _command(data: Path, schema: str, folder: Path) -> tuple[list[str], dict[str, str]]:
    argv = [CLI, "migrate", "sync", "--from", "legacy", "--from-data-dir", str(data)]
    argv += ["--to", "postgres", "--to-schema", schema, "--folder", str(folder)]
    argv += ["--batch-size", "3", "--json"]
    env = dict(os.environ)
    env.update(
        ORCHEO_POSTGRES_DSN=legacy.DSN,
        ORCHEO_VAULT_ENCRYPTION_KEY=legacy.TARGET_KEY,
        ORCHEO_LEGACY_VAULT_ENCRYPTION_KEY=legacy.LEGACY_KEY,
    )
    return argv, env


def _kill_after(argv: list[str], env: dict[str, str], schema: str, target: int, rng: Any) -> bool:
    """Start the sync; SIGKILL it once ``target`` sync batches are in the ledger (+ a few ms)."""
    child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return kill_when(
        child, lambda: len(_sync_ledger(schema)), target, rng, name="sync", max_delay=0.03
    )


def test_killed_sync_resumes_exactly_once(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("KILL_SEED", "9")))
    data, folder = tmp_path / "legacy", tmp_path / "export"
    legacy.build_legacy(data, old=False)

    async def copy(settings: Any) -> None:
        session = await open_backend("postgres", settings)
        try:
            async with legacy.legacy_source(data) as source:
                summary = await migrate(source, session, folder, verify_against_source=False)
            assert summary.ok
        finally:
            await session.close()

    async def finish(settings: Any) -> None:
        session = await open_backend("postgres", settings)
        try:
            await legacy_equal(session)
        finally:
            await session.close()

    async def legacy_equal(target: Any) -> None:
        async with legacy.pg_target(tmp_path / "fresh") as fresh, legacy.legacy_source(data) as src:
            assert (
                await migrate(src, fresh, tmp_path / "fresh-export", verify_against_source=False)
            ).ok
            tables = [
                t.name
                for t in LOGICAL_TABLES
                if t.name not in {"vault_credentials", "webhook_triggers"}
            ]
            report = await verify(
                BackendSource(fresh, "fresh"), BackendSource(target, "synced"), tables=tables
            )
            assert report.ok, [str(d) for d in report.differences]

    async def run() -> None:
        async with create_registry().get("postgres").provision(legacy.TARGET, tmp_path) as settings:
            await copy(settings)
            _change(data)
            schema = str(settings.postgres_schema)
            argv, env = _command(data, schema, folder)
            kills = 0
            # Targets spread over the run: 0 kills during start-up or the scan, the rest
            # after some batches went in.
            for target in [*sorted(rng.sample(range(0, 130), KILLS - 1)), 0]:
                kills += await asyncio.to_thread(_kill_after, argv, env, schema, target, rng)
            assert kills >= KILLS - 2, "the sync finished before most kills: make the delta bigger"
            done = await asyncio.to_thread(
                subprocess.run, argv, env=env, capture_output=True, text=True, check=False
            )
            assert done.returncode == 0, done.stdout + done.stderr
            assert json.loads(done.stdout)["ok"] is True
            generations = sorted(int(d.name[4:]) for d in (folder / "sync").iterdir())
            states = [read_state(folder, g) for g in generations]
            applied = [s for s in states if s is not None and s.phase == "applied"]
            batches = sum(len(t.batches) for s in applied for t in s.tables)
            ledger = _sync_ledger(schema)
            assert len(ledger) == len(set(ledger))  # no batch twice
            assert len([b for b in ledger if "#" not in b]) == batches  # none missing
            await finish(settings)

    asyncio.run(run())
