"""What the legacy migration refuses, and what its verification names.

Every case starts from a copy of the corpus Orcheo wrote, changes one thing, and checks
that the command refuses by default (naming file, table, key and field), that the legacy
files are byte-identical afterwards with no new file beside them, and that nothing was
written to the target; or, when a mapping is bypassed, that ``verify`` names the field.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from corpus_support import CORPUS_KEY, PG_DSN, clean_orcheo_env, corpus_copy, run, snapshot
from orcheo_storage.crypto import VaultCipher
from orcheo_storage.migration.legacy import LegacyPaths, LegacySource
from orcheo_storage.migration.legacy import source as legacy_source_module
from orcheo_storage.migration.legacy.context import MapContext
from orcheo_storage.migration.run import migrate, open_backend
from orcheo_storage.rules.versions import graph_checksum
from orcheo_storage.settings import BACKEND_SETTINGS, load_settings

WORKFLOW = "0e384309-c02c-4f0b-9140-178690baf702"  # "Morning Briefing" in v-current
RETRY_WORKFLOW = "df081652-f942-4237-982a-7cb41cbb5c9a"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_orcheo_env(monkeypatch, tmp_path / "home")
    monkeypatch.setenv("ORCHEO_LEGACY_VAULT_ENCRYPTION_KEY", CORPUS_KEY)
    monkeypatch.setenv("ORCHEO_VAULT_ENCRYPTION_KEY", "the new key")


def edit(db: Path, sql: str, *args: Any) -> None:
    """Change the copy of a legacy file (as a hand edit or a newer Orcheo would)."""
    conn = sqlite3.connect(db)
    conn.execute(sql, args)
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    for side in (Path(f"{db}-wal"), Path(f"{db}-shm")):
        side.unlink(missing_ok=True)


def add_key(db: Path, workflow_id: str, key: str, value: Any) -> None:
    conn = sqlite3.connect(db)
    (payload,) = conn.execute(
        "SELECT payload FROM workflows WHERE id = ?", (workflow_id,)
    ).fetchone()
    conn.close()
    doc = json.loads(payload)
    doc[key] = value
    edit(db, "UPDATE workflows SET payload = ? WHERE id = ?", json.dumps(doc), workflow_id)


def sqlite_run(legacy: Path, tmp_path: Path, *extra: str) -> Any:
    return run(
        "migrate", "run", "--from", "legacy", "--from-data-dir", str(legacy),
        "--to", "sqlite", "--to-data-dir", str(tmp_path / "storage"),
        "--folder", str(tmp_path / "export"), *extra,
    )  # fmt: skip


def assert_target_untouched(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    assert not storage.exists() or not any(storage.iterdir())


# --- refused by default ------------------------------------------------------------------------


def test_an_unknown_key_is_refused_and_allowed_only_by_name(tmp_path: Path) -> None:
    legacy = corpus_copy("v-current", tmp_path / "orcheo")
    add_key(legacy / "workflows.sqlite", WORKFLOW, "surprise", {"from": "a newer Orcheo"})
    before = snapshot(legacy)

    refused = sqlite_run(legacy, tmp_path)
    assert refused.exit_code == 1
    message = refused.stderr
    assert f"workflows.sqlite workflows row (key {WORKFLOW})" in message
    assert "payload.surprise" in message
    assert "--allow-loss workflows.payload.surprise" in message
    assert snapshot(legacy) == before
    assert_target_untouched(tmp_path)

    dry = run(
        "migrate", "run", "--dry-run", "--from", "legacy", "--from-data-dir", str(legacy),
        "--to", "sqlite", "--to-data-dir", str(tmp_path / "storage"),
        "--folder", str(tmp_path / "export"),
    )  # fmt: skip
    assert dry.exit_code == 1  # the dry run predicts the refusal
    assert "710 would be migrated, 1 refused" in dry.stdout
    assert "payload.surprise" in dry.stdout
    assert snapshot(legacy) == before

    allowed = sqlite_run(legacy, tmp_path, "--allow-loss", "workflows.payload.surprise")
    assert allowed.exit_code == 0, allowed.stdout + allowed.stderr
    assert "workflows.payload.surprise: LOST (--allow-loss) in 1 row(s)" in allowed.stdout
    manifest = json.loads((tmp_path / "export" / "manifest.json").read_text())
    assert manifest["accounting"]["lost"] == {"workflows.payload.surprise": 1}
    assert snapshot(legacy) == before


def test_a_value_the_mapping_cannot_hold_is_refused(tmp_path: Path) -> None:
    legacy = corpus_copy("v-current", tmp_path / "orcheo")
    edit(
        legacy / "workflows.sqlite",
        "UPDATE retry_policies SET config = json_set(config, '$.max_attempts', 0) "
        "WHERE workflow_id = ?",
        RETRY_WORKFLOW,
    )
    before = snapshot(legacy)
    refused = sqlite_run(legacy, tmp_path)
    assert refused.exit_code == 1
    assert f"retry_policies row (key {RETRY_WORKFLOW})" in refused.stderr
    assert "config.max_attempts" in refused.stderr
    assert "--allow-loss retry_policies.config.max_attempts" in refused.stderr
    assert snapshot(legacy) == before
    assert_target_untouched(tmp_path)


def test_a_key_of_the_wrong_type_is_refused(tmp_path: Path) -> None:
    legacy = corpus_copy("v-old", tmp_path / "orcheo")
    add_key(legacy / "workflows.sqlite", WORKFLOW_OLD := _first_workflow(legacy), "tags", "a,b")
    before = snapshot(legacy)
    refused = sqlite_run(legacy, tmp_path)
    assert refused.exit_code == 1
    assert f"workflows row (key {WORKFLOW_OLD}): payload.tags: expected list" in refused.stderr
    assert snapshot(legacy) == before
    assert_target_untouched(tmp_path)


def _first_workflow(legacy: Path) -> str:
    conn = sqlite3.connect(f"file:{legacy / 'workflows.sqlite'}?mode=ro&immutable=1", uri=True)
    (wid,) = conn.execute("SELECT id FROM workflows ORDER BY id LIMIT 1").fetchone()
    conn.close()
    return str(wid)


def test_a_missing_source_folder_is_named(tmp_path: Path) -> None:
    result = sqlite_run(tmp_path / "no-such-folder", tmp_path)
    assert result.exit_code == 1
    assert f"--from-data-dir {tmp_path / 'no-such-folder'}: no such folder" in result.stderr
    assert_target_untouched(tmp_path)


def test_a_folder_without_todays_files_is_named(tmp_path: Path) -> None:
    empty = tmp_path / "orcheo"
    empty.mkdir()
    result = sqlite_run(empty, tmp_path)
    assert result.exit_code == 1
    assert "no legacy Orcheo file found" in result.stderr
    assert str(empty / "workflows.sqlite") in result.stderr
    assert list(empty.iterdir()) == []


def test_a_missing_legacy_key_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ORCHEO_LEGACY_VAULT_ENCRYPTION_KEY")
    monkeypatch.delenv("ORCHEO_VAULT_ENCRYPTION_KEY")
    legacy = corpus_copy("v-current", tmp_path / "orcheo")
    before = snapshot(legacy)
    monkeypatch.setenv("ORCHEO_VAULT_ENCRYPTION_KEY", "a new key that is not today's")
    result = sqlite_run(legacy, tmp_path)
    assert result.exit_code == 1
    assert "ORCHEO_LEGACY_VAULT_ENCRYPTION_KEY" in result.stderr
    assert snapshot(legacy) == before  # no key file created beside today's vault
    assert_target_untouched(tmp_path)


def test_no_key_file_is_created_in_todays_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The target's vault would take its key from <vault path>.key, which is in the legacy
    # folder when the target keeps the default paths of ~/.orcheo: refused, nothing created.
    monkeypatch.delenv("ORCHEO_VAULT_ENCRYPTION_KEY")
    legacy = corpus_copy("v-current", tmp_path / "orcheo")
    monkeypatch.setenv("ORCHEO_VAULT_LOCAL_PATH", str(legacy / "vault.sqlite"))
    monkeypatch.setenv("ORCHEO_POSTGRES_DSN", PG_DSN)
    before = snapshot(legacy)
    result = run(
        "migrate", "run", "--from", "legacy", "--from-data-dir", str(legacy),
        "--to", "postgres", "--folder", str(tmp_path / "export"),
    )  # fmt: skip
    assert result.exit_code == 1
    assert "inside the folder of today's Orcheo files" in result.stderr
    assert "ORCHEO_VAULT_ENCRYPTION_KEY" in result.stderr
    assert snapshot(legacy) == before


def test_an_unknown_table_with_rows_is_refused(tmp_path: Path) -> None:
    legacy = corpus_copy("v-current", tmp_path / "orcheo")
    edit(legacy / "chatkit.sqlite", "CREATE TABLE chat_reactions (id TEXT)")
    edit(legacy / "chatkit.sqlite", "INSERT INTO chat_reactions VALUES ('r1')")
    before = snapshot(legacy)
    result = sqlite_run(legacy, tmp_path)
    assert result.exit_code == 1
    assert "table chat_reactions (1 row(s))" in result.stderr
    assert "--allow-loss chatkit.sqlite:chat_reactions" in result.stderr
    assert snapshot(legacy) == before
    assert_target_untouched(tmp_path)


# --- verify names what a mapping changed -------------------------------------------------------


def test_verify_names_a_legacy_value_that_differs_from_the_target(tmp_path: Path) -> None:
    legacy = corpus_copy("v-current", tmp_path / "orcheo")
    assert sqlite_run(legacy, tmp_path).exit_code == 0
    edit(
        legacy / "workflows.sqlite",
        "UPDATE workflows SET payload = json_set(payload, '$.description', 'edited later') "
        "WHERE id = ?",
        WORKFLOW,
    )
    result = run(
        "migrate", "verify", "--from", "legacy", "--from-data-dir", str(legacy),
        "--to", "sqlite", "--to-data-dir", str(tmp_path / "storage"),
    )  # fmt: skip
    assert result.exit_code == 1
    assert f"workflows [{WORKFLOW}]: changed (columns: payload.description)" in result.stdout


def test_verify_names_what_a_faulty_mapping_drops_or_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    legacy = corpus_copy("v-current", tmp_path / "orcheo")

    def sabotage(name: str, change: Any) -> None:
        maps = list(legacy_source_module.TABLE_MAPS)
        at = next(i for i, m in enumerate(maps) if m.logical == name)
        inner = maps[at].mapper

        def faulty(row: dict[str, Any], ctx: MapContext) -> Any:
            return change(inner(row, ctx))

        maps[at] = dataclasses.replace(maps[at], mapper=faulty)
        monkeypatch.setattr(legacy_source_module, "TABLE_MAPS", tuple(maps))

    def flip_login(row: dict[str, Any]) -> dict[str, Any]:
        row["publication"]["require_login"] = not row["publication"]["require_login"]
        return row

    def drop_offset(row: dict[str, Any]) -> dict[str, Any]:
        row["fields"].pop("telegram_offset", None)
        return row

    def integral(value: Any) -> Any:
        # 2.0 -> 2: the same number to Python, another JSON value (and another checksum)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, dict):
            return {k: integral(v) for k, v in value.items()}
        if isinstance(value, list):
            return [integral(v) for v in value]
        return value

    def float_to_int(row: dict[str, Any]) -> dict[str, Any]:
        row["graph"] = integral(row["graph"])
        row["checksum"] = graph_checksum(row["graph"])  # the checksum of the changed graph
        return row

    sabotage("workflows", flip_login)
    sabotage("listener_cursors", drop_offset)
    sabotage("workflow_versions", float_to_int)

    async def body() -> list[str]:
        settings = load_settings(**dict.fromkeys(BACKEND_SETTINGS, "memory"))
        target = await open_backend("memory", settings)
        source = LegacySource(
            LegacyPaths.in_folder(legacy),
            target_cipher=VaultCipher.from_passphrase("t", "primary"),
            legacy_vault_key=CORPUS_KEY,
        )
        async with source:
            summary = await migrate(source, target, tmp_path / "export")
        await target.close()
        assert summary.verified is not None
        return [str(d) for d in summary.verified.differences]

    found = asyncio.run(body())
    assert any("workflows [" in d and "payload.require_login" in d for d in found), found
    assert any("listener_cursors [" in d and "payload.telegram_offset" in d for d in found)
    graphs = [d for d in found if d.startswith("workflow_versions [")]
    assert graphs, found  # the corpus has graphs holding 2.0
    assert all("payload.graph, payload.graph (checksum)" in d for d in graphs), graphs
