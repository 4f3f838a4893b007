"""The command line against the real SQLite and PostgreSQL backends of the workspace."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from orcheo_storage.cli.app import app
from typer.testing import CliRunner

CANARY = "canary-Pw-7731"
PG_DSN = os.environ.get("ORCHEO_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("ORCHEO_") and name != "ORCHEO_TEST_POSTGRES_DSN":
            monkeypatch.delenv(name)
    monkeypatch.setenv("ORCHEO_REPOSITORY_SQLITE_PATH", str(tmp_path / "home" / "wf.sqlite"))
    monkeypatch.setenv("ORCHEO_CHATKIT_SQLITE_PATH", str(tmp_path / "home" / "chat.sqlite"))
    monkeypatch.setenv("ORCHEO_VAULT_LOCAL_PATH", str(tmp_path / "home" / "vault.sqlite"))


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_sqlite_schema_plan_apply_and_doctor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("ORCHEO_AUTO_MIGRATE", "false")
    common = ("--backend", "sqlite", "--data-dir", str(data))
    before = json.loads(run("doctor", *common, "--json").stdout)
    (check,) = before["backends"]
    assert check["schema_pending"], "a fresh SQLite database has pending steps"
    assert before["ok"] is False
    plan = run("migrate-schema", "--plan", *common, "--json")
    assert plan.exit_code == 0
    planned = json.loads(plan.stdout)["backends"]["sqlite"]
    assert planned == check["schema_pending"]
    assert (
        json.loads(run("doctor", *common, "--json").stdout)["backends"][0]["schema_pending"]
        == planned
    ), "--plan changed nothing"
    applied = run("migrate-schema", *common, "--json")
    assert json.loads(applied.stdout)["backends"]["sqlite"] == planned
    after = run("doctor", *common, "--json")
    assert after.exit_code == 0, after.stdout
    assert json.loads(after.stdout)["backends"][0]["schema_pending"] == []
    again = run("migrate-schema", *common)
    assert "sqlite: schema is up to date" in again.stdout


def test_demo_on_sqlite_keeps_its_data_in_the_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    for _ in range(2):  # a second run on the same files works too (unique names per run)
        result = run("demo", "--backend", "sqlite", "--data-dir", str(data), "--json")
        assert result.exit_code == 0, result.stdout
        report = json.loads(result.stdout)
        assert report["ok"] is True
        statuses = {s["subsystem"]: s["status"] for s in report["steps"]}
        assert statuses.pop("langgraph") in {"ok", "skipped"}  # optional capability
        assert set(statuses.values()) == {"ok"}
    assert (data / "workflows.sqlite").exists()
    assert not (tmp_path / "home").exists()  # nothing went to the configured default paths


@pytest.fixture
def pg_schema() -> Iterator[str]:
    import psycopg

    schema = f"cli_test_{uuid.uuid4().hex[:10]}"
    yield schema
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _with_password(dsn: str, password: str) -> str:
    scheme, rest = dsn.split("://", 1)
    userinfo, host = rest.split("@", 1) if "@" in rest else ("postgres", rest)
    return f"{scheme}://{userinfo.split(':', 1)[0]}:{password}@{host}"


@pytest.mark.postgres
def test_doctor_and_demo_on_postgres_never_show_the_password(
    monkeypatch: pytest.MonkeyPatch, pg_schema: str, caplog: pytest.LogCaptureFixture
) -> None:
    # the test server trusts local connections, so a canary password still connects
    monkeypatch.setenv("ORCHEO_POSTGRES_DSN", _with_password(PG_DSN, CANARY))
    monkeypatch.setenv("ORCHEO_POSTGRES_SCHEMA", pg_schema)
    without_key = run("demo", "--backend", "postgres", "--json")  # a shared server needs one
    assert without_key.exit_code == 2
    assert "ORCHEO_VAULT_ENCRYPTION_KEY is required" in without_key.stderr
    monkeypatch.setenv("ORCHEO_VAULT_ENCRYPTION_KEY", "cli-test-vault-key")
    demo = run("demo", "--backend", "postgres", "--json")
    assert demo.exit_code == 0, demo.stdout
    steps = json.loads(demo.stdout)["steps"]
    assert {s["backend"] for s in steps} == {"postgres"}
    assert {s["status"] for s in steps if s["subsystem"] != "langgraph"} == {"ok"}
    doctor = run("doctor", "--backend", "postgres")
    assert doctor.exit_code == 0, doctor.stdout
    assert "doctor: all checks passed" in doctor.stdout
    for output in (demo.stdout, demo.stderr, doctor.stdout, doctor.stderr):
        assert CANARY not in output
    assert all(CANARY not in r.getMessage() for r in caplog.records)
