"""Files Orcheo itself wrote, migrated to PostgreSQL and to SQLite, every fact checked.

Both corpus variants (today's layout and an older one) go through the real command line
(`orcheo-storage migrate run --from legacy ...`); the target is then opened with
``open_storage`` and every fact of ``expected.json`` is checked through the public store
API (:mod:`corpus_facts`). The legacy files stay byte-identical, nothing is dropped
without ``--allow-loss``, a second run imports nothing and ``migrate sync`` finds nothing.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from corpus_facts import check_facts
from corpus_support import (
    CORPUS_KEY,
    PG_DSN,
    VARIANTS,
    clean_orcheo_env,
    corpus_copy,
    expected,
    run,
    snapshot,
)
from orcheo_storage.settings import BACKEND_SETTINGS
from orcheo_storage.storage import Storage

from orcheo_storage import load_settings, open_storage

NEW_KEY = "the target's new vault key"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_orcheo_env(monkeypatch, tmp_path / "home")
    monkeypatch.setenv("ORCHEO_LEGACY_VAULT_ENCRYPTION_KEY", CORPUS_KEY)
    monkeypatch.setenv("ORCHEO_VAULT_ENCRYPTION_KEY", NEW_KEY)
    monkeypatch.setenv("ORCHEO_POSTGRES_DSN", PG_DSN)


@pytest.fixture
def pg_schema() -> Iterator[str]:
    import psycopg

    schema = f"corpus_{uuid.uuid4().hex[:10]}"
    yield schema
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def target_args(target: str, tmp_path: Path, schema: str) -> list[str]:
    if target == "postgres":
        return ["--to", "postgres", "--to-schema", schema]
    return ["--to", "sqlite", "--to-data-dir", str(tmp_path / "storage")]


def check_target(target: str, tmp_path: Path, schema: str, variant: str) -> None:
    """Every fact of ``variant`` through the public API of the migrated target."""

    async def body() -> None:
        async with opened(target, tmp_path, schema) as storage:
            await check_facts(storage, expected(variant))

    asyncio.run(body())


@asynccontextmanager
async def opened(target: str, tmp_path: Path, schema: str) -> AsyncIterator[Storage]:
    values: dict[str, object] = dict.fromkeys(BACKEND_SETTINGS, target)
    if target == "postgres":
        values["postgres_schema"] = schema
    else:
        folder = tmp_path / "storage"
        values.update(
            repository_sqlite_path=folder / "workflows.sqlite",
            chatkit_sqlite_path=folder / "chatkit.sqlite",
            vault_local_path=folder / "vault.sqlite",
            auth_service_token_db_path=folder / "service_tokens.sqlite",
        )
    async with open_storage(load_settings(**values)) as storage:
        yield storage


def migrate_json(*args: str) -> dict[str, object]:
    result = run("migrate", *args, "--json")
    assert result.exit_code == 0, result.stdout + (result.stderr or "")
    data: dict[str, object] = json.loads(result.stdout)
    return data


@pytest.mark.postgres
@pytest.mark.parametrize("target", ["sqlite", "postgres"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_corpus_migrates_with_every_fact(
    tmp_path: Path, pg_schema: str, variant: str, target: str
) -> None:
    legacy = corpus_copy(variant, tmp_path / "orcheo")
    before = snapshot(legacy)
    where = target_args(target, tmp_path, pg_schema)
    common = ["--from", "legacy", "--from-data-dir", str(legacy), *where]
    folder = ["--folder", str(tmp_path / "export")]

    data = migrate_json("run", *common, *folder)
    assert data["ok"] is True
    # Nothing left behind: no documented drop held a value, no loss was allowed.
    assert [line for line in data["not_migrated"] if "LOST" in line or "dropped" in line] == []
    manifest = json.loads((tmp_path / "export" / "manifest.json").read_text())
    assert manifest["accounting"]["lost"] == {}
    assert manifest["accounting"]["dropped"] == {}
    assert manifest["accounting"]["mapping"] == "docs/legacy-mapping.md"
    assert snapshot(legacy) == before  # read-only: byte-identical, no side files

    check_target(target, tmp_path, pg_schema, variant)

    again = migrate_json("run", *common, *folder)
    imported = again["import"]
    assert isinstance(imported, dict)
    assert sum(t["imported"] for t in imported.values()) == 0  # a second run imports nothing
    synced = migrate_json("sync", *common, *folder)
    assert synced["ok"] is True
    assert synced["changed_rows"] == 0
    verified = run("migrate", "verify", *common)
    assert verified.exit_code == 0, verified.stdout
    assert snapshot(legacy) == before


@pytest.mark.postgres
def test_secrets_also_open_when_the_target_keeps_todays_key(
    tmp_path: Path, pg_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCHEO_VAULT_ENCRYPTION_KEY", CORPUS_KEY)  # same key on both sides
    legacy = corpus_copy("v-current", tmp_path / "orcheo")
    data = migrate_json(
        "run",
        "--from",
        "legacy",
        "--from-data-dir",
        str(legacy),
        *target_args("postgres", tmp_path, pg_schema),
        "--folder",
        str(tmp_path / "export"),
    )
    assert data["ok"] is True
    check_target("postgres", tmp_path, pg_schema, "v-current")
