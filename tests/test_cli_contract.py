"""`orcheo-storage contract-test NAME` runs the installed suite and writes a report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orcheo_storage.cli.app", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_contract_test_runs_the_suite_and_writes_a_report(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    result = _cli(
        "contract-test",
        "memory",
        "--report",
        str(report),
        "--",
        "-q",
        "-k",
        "test_versions",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads(report.read_text())
    assert data["backend"]["name"] == "memory"
    assert data["subsystems"]["versions"]["passed"] > 0
    assert data["subsystems"]["versions"]["failed"] == 0


def test_contract_test_rejects_a_malformed_setting(tmp_path: Path) -> None:
    result = _cli("contract-test", "memory", "--setting", "no-equals-sign", cwd=tmp_path)
    assert result.returncode == 2
    assert "KEY=VALUE" in result.stderr


def test_contract_test_fails_for_an_unknown_backend(tmp_path: Path) -> None:
    result = _cli("contract-test", "nosuchbackend", "--", "-q", "-k", "test_versions", cwd=tmp_path)
    assert result.returncode != 0
    assert "nosuchbackend" in result.stdout + result.stderr
