"""The command line meets today's Orcheo files: doctor, demo and migrate-schema refuse them.

Every refusal runs on copies of the legacy corpus (files Orcheo itself wrote) and asserts
that the folder is byte-identical afterwards with no new file in it. The printed
``migrate run`` commands are then run as printed and must work.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from corpus_support import NAMES, PG_DSN, clean_orcheo_env, corpus_copy, run, snapshot
from legacy_files import LEGACY_KEY, build_legacy


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_orcheo_env(monkeypatch, tmp_path / "home")  # never touch ~/.orcheo from tests
    monkeypatch.setenv("ORCHEO_VAULT_ENCRYPTION_KEY", "the new vault key")


def expected_commands(folder: Path) -> dict[str, str]:
    base = folder.resolve()
    source = f"--from-data-dir {base}"
    return {
        "postgres": f"orcheo-storage migrate run --from legacy {source} --to postgres "
        f"--folder {base}-export-postgres",
        "sqlite": f"orcheo-storage migrate run --from legacy {source} --to sqlite "
        f"--to-data-dir {base}-storage --folder {base}-export-sqlite",
    }


# --- doctor --------------------------------------------------------------------------------------


@pytest.mark.parametrize("auto_migrate", ["true", "false"])
def test_doctor_reports_legacy_files_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, auto_migrate: str
) -> None:
    monkeypatch.setenv("ORCHEO_AUTO_MIGRATE", auto_migrate)
    folder = corpus_copy("v-current", tmp_path / "orcheo")
    before = snapshot(folder)
    result = run("doctor", "--data-dir", str(folder))
    assert snapshot(folder) == before  # no table added, no WAL switch, no side file
    assert result.exit_code == 1, result.stdout
    assert "doctor: problems found" in result.stdout
    assert "all checks passed" not in result.stdout
    assert "LEGACY FILES" in result.stdout
    for name in NAMES:
        assert f"sqlite legacy file: {folder.resolve() / name} (today's Orcheo layout)" in (
            result.stdout
        )
    for command in expected_commands(folder).values():
        assert command in result.stdout


def test_doctor_json_lists_legacy_files_and_commands(tmp_path: Path) -> None:
    folder = corpus_copy("v-old", tmp_path / "orcheo")
    before = snapshot(folder)
    result = run("doctor", "--data-dir", str(folder), "--json")
    assert snapshot(folder) == before
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    (check,) = report["backends"]
    assert check["foreign_files"] == {
        str(folder.resolve() / "workflows.sqlite"): "orcheo-legacy",
        str(folder.resolve() / "chatkit.sqlite"): "orcheo-legacy",
    }
    assert check["migrate_commands"] == expected_commands(folder)


def test_doctor_on_the_legacy_vault_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the vault on sqlite: before, our tables were added and zero credentials shown."""
    folder = corpus_copy("v-current", tmp_path / "orcheo", ["vault.sqlite"])
    for setting in ("REPOSITORY", "CHECKPOINT", "CHATKIT", "AUTH_SERVICE_TOKEN"):
        monkeypatch.setenv(f"ORCHEO_{setting}_BACKEND", "memory")
    monkeypatch.setenv("ORCHEO_VAULT_BACKEND", "sqlite")
    monkeypatch.setenv("ORCHEO_VAULT_LOCAL_PATH", str(folder / "vault.sqlite"))
    before = snapshot(folder)
    result = run("doctor", "--json")
    assert snapshot(folder) == before
    assert result.exit_code == 1
    checks = {c["name"]: c for c in json.loads(result.stdout)["backends"]}
    assert checks["sqlite"]["foreign_files"] == {
        str(folder.resolve() / "vault.sqlite"): "orcheo-legacy"
    }
    assert "ORCHEO_LEGACY_VAULT_ENCRYPTION_KEY" in checks["sqlite"]["problems"][0]


# --- demo and migrate-schema ---------------------------------------------------------------------


@pytest.mark.parametrize("auto_migrate", ["true", "false"])
@pytest.mark.parametrize("variant", ["v-current", "v-old"])
def test_demo_refuses_legacy_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variant: str, auto_migrate: str
) -> None:
    monkeypatch.setenv("ORCHEO_AUTO_MIGRATE", auto_migrate)
    folder = corpus_copy(variant, tmp_path / "orcheo")
    before = snapshot(folder)
    result = run("demo", "--data-dir", str(folder))
    assert snapshot(folder) == before
    assert result.exit_code == 2, result.stdout
    assert "the sqlite backend will not open today's Orcheo files" in result.stderr
    for name in before:
        assert str(folder.resolve() / name) in result.stderr
    for command in expected_commands(folder).values():
        assert command in result.stderr
    assert "TypeError" not in result.stdout + result.stderr


@pytest.mark.parametrize("plan", [True, False], ids=["plan", "apply"])
def test_migrate_schema_refuses_legacy_files(tmp_path: Path, plan: bool) -> None:
    folder = corpus_copy("v-current", tmp_path / "orcheo")
    before = snapshot(folder)
    result = run("migrate-schema", *(["--plan"] if plan else []), "--data-dir", str(folder))
    assert snapshot(folder) == before
    assert result.exit_code == 2
    assert expected_commands(folder)["sqlite"] in result.stderr


def test_the_installed_command_refuses_legacy_files(tmp_path: Path) -> None:
    """The real ``orcheo-storage`` console script, in a process of its own."""
    folder = corpus_copy("v-current", tmp_path / "orcheo")
    before = snapshot(folder)
    script = Path(sys.executable).with_name("orcheo-storage")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCHEO_")}
    env["ORCHEO_AUTO_MIGRATE"] = "false"
    result = subprocess.run(
        [str(script), "demo", "--data-dir", str(folder)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert snapshot(folder) == before
    assert result.returncode == 2, result.stdout + result.stderr
    assert expected_commands(folder)["postgres"] in result.stderr
    assert "Traceback" not in result.stderr


def test_a_folder_name_with_brackets_and_spaces_is_printed_verbatim(tmp_path: Path) -> None:
    folder = corpus_copy("v-current", tmp_path / "my orcheo [prod]", ["vault.sqlite"])
    before = snapshot(folder)
    doctor = run("doctor", "--data-dir", str(folder), "--json")
    commands = json.loads(doctor.stdout)["backends"][0]["migrate_commands"]
    assert shlex.split(commands["sqlite"])[6] == str(folder.resolve())  # --from-data-dir DIR
    demo = run("demo", "--data-dir", str(folder))
    assert snapshot(folder) == before
    assert f"{folder.resolve() / 'vault.sqlite'} (ORCHEO_VAULT_LOCAL_PATH)" in demo.stderr
    assert commands["sqlite"] in demo.stderr
    assert commands["postgres"] in demo.stderr


# --- the printed commands work as printed ---------------------------------------------------------


def _printed_commands(folder: Path) -> dict[str, str]:
    result = run("doctor", "--backend", "sqlite", "--data-dir", str(folder), "--json")
    assert result.exit_code == 1
    commands: dict[str, str] = json.loads(result.stdout)["backends"][0]["migrate_commands"]
    return commands


def _run_printed(command: str) -> Any:
    argv = shlex.split(command)
    assert argv[0] == "orcheo-storage"
    return run(*argv[1:])


@pytest.mark.parametrize("name", ["orcheo", "my orcheo [prod]"])
def test_the_printed_sqlite_command_migrates_to_a_new_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    legacy = tmp_path / name
    build_legacy(legacy, old=False)
    before = snapshot(legacy)
    monkeypatch.setenv("ORCHEO_LEGACY_VAULT_ENCRYPTION_KEY", LEGACY_KEY)
    command = _printed_commands(legacy)["sqlite"]
    migrated = _run_printed(command)
    assert migrated.exit_code == 0, migrated.stdout + migrated.stderr
    assert snapshot(legacy) == before
    after = run("doctor", "--backend", "sqlite", "--data-dir", str(tmp_path / f"{name}-storage"))
    assert after.exit_code == 0, after.stdout
    assert "doctor: all checks passed" in after.stdout


@pytest.fixture
def pg_schema() -> Iterator[str]:
    import psycopg

    schema = f"legacy_cli_{uuid.uuid4().hex[:10]}"
    yield schema
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.mark.postgres
def test_the_printed_postgres_command_migrates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_schema: str
) -> None:
    legacy = tmp_path / "orcheo"
    build_legacy(legacy, old=True)
    before = snapshot(legacy)
    monkeypatch.setenv("ORCHEO_LEGACY_VAULT_ENCRYPTION_KEY", LEGACY_KEY)
    monkeypatch.setenv("ORCHEO_POSTGRES_DSN", PG_DSN)
    monkeypatch.setenv("ORCHEO_POSTGRES_SCHEMA", pg_schema)
    migrated = _run_printed(_printed_commands(legacy)["postgres"])
    assert migrated.exit_code == 0, migrated.stdout + migrated.stderr
    assert snapshot(legacy) == before
    after = run("doctor", "--backend", "postgres")
    assert after.exit_code == 0, after.stdout
