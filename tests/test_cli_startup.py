"""Start-up failures through the command line (issue 13): malformed DSNs and schema names are
refused before any driver sees them, unreachable servers are reported within seconds, and
the password never shows on stdout, stderr or in logs."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from orcheo_storage.cli.app import app
from typer.testing import CliRunner

CANARY = "canary-Pw-7731"
MALFORMED_DSNS = {
    "driver suffix": f"postgresql+psycopg://postgres:{CANARY}@127.0.0.1:5432/postgres",
    "other scheme": f"mysql://postgres:{CANARY}@127.0.0.1:5432/postgres",
    "bad escape": f"postgresql://postgres:{CANARY}%zz@127.0.0.1:5432/postgres",
    "unescaped @": f"postgresql://postgres:{CANARY}@x@127.0.0.1:5432/postgres",
    "unescaped /": f"postgresql://postgres:{CANARY}/x@127.0.0.1:5432/postgres",
    "space in password": f"host=127.0.0.1 user=postgres password=x {CANARY} dbname=postgres",
}
COMMANDS = (("doctor",), ("doctor", "--json"), ("migrate-schema",), ("migrate-schema", "--plan"))


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("ORCHEO_") and name != "ORCHEO_TEST_POSTGRES_DSN":
            monkeypatch.delenv(name)
    monkeypatch.setenv("ORCHEO_REPOSITORY_SQLITE_PATH", str(tmp_path / "home" / "wf.sqlite"))
    monkeypatch.setenv("ORCHEO_CHATKIT_SQLITE_PATH", str(tmp_path / "home" / "chat.sqlite"))
    monkeypatch.setenv("ORCHEO_VAULT_LOCAL_PATH", str(tmp_path / "home" / "vault.sqlite"))
    monkeypatch.setenv("ORCHEO_REPOSITORY_BACKEND", "postgres")
    monkeypatch.setenv("ORCHEO_VAULT_ENCRYPTION_KEY", "cli-startup-test-key")


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


@pytest.mark.parametrize("dsn", MALFORMED_DSNS.values(), ids=MALFORMED_DSNS.keys())
def test_a_malformed_dsn_is_refused_without_showing_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, dsn: str
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("ORCHEO_POSTGRES_DSN", dsn)
    for command in COMMANDS:
        started = time.monotonic()
        result = run(*command)
        assert time.monotonic() - started < 3
        assert result.exit_code == 2, (command, result.stdout, result.stderr)
        assert "ORCHEO_POSTGRES_DSN" in result.stderr
        for output in (result.stdout, result.stderr):
            assert CANARY not in output
    for record in caplog.records:
        assert CANARY not in record.getMessage()


@pytest.mark.parametrize("schema", ["TenantA", "pg_catalog", "information_schema"])
def test_a_schema_name_needing_quotes_or_reserved_is_refused(
    monkeypatch: pytest.MonkeyPatch, schema: str
) -> None:
    monkeypatch.setenv("ORCHEO_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
    monkeypatch.setenv("ORCHEO_POSTGRES_SCHEMA", schema)
    for command in COMMANDS:
        result = run(*command)
        assert result.exit_code == 2
        assert "ORCHEO_POSTGRES_SCHEMA" in result.stderr
        assert "doctor: all checks passed" not in result.stdout


def test_an_empty_dsn_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHEO_POSTGRES_DSN", "")
    result = run("doctor")
    assert result.exit_code == 2
    assert "ORCHEO_POSTGRES_DSN is required" in result.stderr
    monkeypatch.setenv("ORCHEO_REPOSITORY_BACKEND", "memory")
    monkeypatch.setenv("ORCHEO_VAULT_BACKEND", "memory")
    shown = run("doctor")
    assert "<dsn>" not in shown.stdout


@pytest.fixture
def silent_port() -> Iterator[int]:
    """Accepts TCP connections and never answers (a hung server or a dropping firewall)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


def test_an_unreachable_server_is_reported_within_seconds(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, silent_port: int
) -> None:
    """With the default pool timeout (30 s), doctor and migrate-schema give up in ~5 s."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(
        "ORCHEO_POSTGRES_DSN", f"postgresql://postgres:{CANARY}@127.0.0.1:{silent_port}/postgres"
    )
    timings = {}
    for command in (("doctor",), ("migrate-schema",)):
        started = time.monotonic()
        result = run(*command)
        timings[command[0]] = time.monotonic() - started
        assert result.exit_code == 1, (result.stdout, result.stderr)
        text = result.stdout + result.stderr
        assert "BackendUnavailableError" in text or "cannot connect to PostgreSQL" in text
        assert "BackendBusyError" not in text
        assert CANARY not in text
    assert all(seconds < 8 for seconds in timings.values()), timings
    for record in caplog.records:
        assert CANARY not in record.getMessage()
