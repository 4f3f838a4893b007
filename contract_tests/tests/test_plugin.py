"""The pytest plugin itself: selection errors, overrides, skips, the report, secrecy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import orcheo_storage_contract_tests

HERE = Path(__file__).parent
SUITE = Path(orcheo_storage_contract_tests.__file__).parent / "suite"


def pytest_run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCHEO_")}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args]
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)


def test_importing_the_plugin_imports_no_backend() -> None:
    probe = (
        "import sys, orcheo_storage_contract_tests.plugin\n"
        "loaded = [m for m in sys.modules if m.startswith(('orcheo_storage.memory',"
        " 'orcheo_storage.plugins', 'orcheo_storage_sqlite', 'orcheo_storage_postgres'))]\n"
        "print(loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_backend_is_a_usage_error(tmp_path: Path) -> None:
    result = pytest_run(tmp_path, "--orcheo-backend=nosuch")
    assert result.returncode == 4
    assert "--orcheo-backend: unknown storage backend 'nosuch'" in result.stderr


def test_backend_from_environment_variable(tmp_path: Path) -> None:
    env_result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--co"],
        cwd=tmp_path,
        env={**os.environ, "ORCHEO_CONTRACT_BACKEND": "memory"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert env_result.returncode == 0, env_result.stderr
    assert "test_workflows.py::test_create_normalises_fields_and_audits" in env_result.stdout


def test_unknown_setting_is_a_usage_error(tmp_path: Path) -> None:
    result = pytest_run(tmp_path, "--orcheo-backend=memory", "--orcheo-setting", "nosuch=1")
    assert result.returncode == 4
    assert "--orcheo-setting: unknown setting(s) nosuch" in result.stderr


def test_dsn_password_never_printed_or_reported(tmp_path: Path) -> None:
    result = pytest_run(
        tmp_path,
        "--orcheo-backend=memory",
        "--orcheo-setting",
        "postgres_dsn=postgresql://user:hunter2secret@127.0.0.1/db",
        "--orcheo-report=report.json",
        str(SUITE / "test_workflows.py"),
        "-k",
        "test_get_missing_workflow",
        "-v",
    )
    assert result.returncode == 0, result.stdout
    assert "hunter2secret" not in result.stdout + result.stderr
    assert "hunter2secret" not in (tmp_path / "report.json").read_text()


def test_undeclared_subsystem_is_skipped_with_reason(tmp_path: Path) -> None:
    result = pytest_run(
        tmp_path,
        "-p",
        "broken_backends",
        "--orcheo-backend=broken-workflows-only",
        "--orcheo-report=report.json",
        str(SUITE / "test_triggers.py"),
        str(SUITE / "test_history.py"),
        str(SUITE / "test_versions.py"),
    )
    assert result.returncode == 0, result.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    triggers = report["subsystems"]["triggers"]
    assert triggers["passed"] == triggers["failed"] == 0
    assert triggers["skipped"] > 10
    assert triggers["skipped_reasons"] == ["backend does not provide subsystem triggers"]
    assert report["subsystems"]["history"]["skipped_reasons"] == [
        "backend does not provide subsystem history"
    ]
    assert report["subsystems"]["versions"]["passed"] > 10
    assert report["subsystems"]["versions"]["skipped"] == 0


def test_report_contents_and_summary_table(tmp_path: Path) -> None:
    result = pytest_run(
        tmp_path,
        "--orcheo-backend=memory",
        "--orcheo-report=out/report.json",
        str(SUITE / "test_concurrency.py"),
        str(SUITE / "test_triggers.py"),
    )
    assert result.returncode == 0, result.stdout
    assert "orcheo storage conformance: memory" in result.stdout
    assert "subsystem         passed  failed skipped" in result.stdout
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert set(report) >= {
        "suite_version",
        "backend",
        "started_at",
        "duration_s",
        "subsystems",
        "totals",
    }
    assert report["backend"]["name"] == "memory"
    assert report["backend"]["api_version"] == 1
    assert "json_containment" in report["backend"]["capabilities"]
    concurrency = report["subsystems"]["concurrency"]
    assert concurrency["skipped_reasons"] == [
        "backend does not declare capability cross_process_atomic"
    ]
    totals = report["totals"]
    assert totals["passed"] == sum(s["passed"] for s in report["subsystems"].values())
    assert totals["failed"] == 0


def test_a_failing_backend_fails_the_report(tmp_path: Path) -> None:
    result = pytest_run(
        tmp_path,
        "-p",
        "broken_backends",
        "--orcheo-backend=broken-raw-driver-error",
        "--orcheo-report=report.json",
        str(SUITE / "test_workflows.py"),
        "-k",
        "conflict",
    )
    assert result.returncode == 1
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["subsystems"]["workflows"]["failed"] >= 1
    assert report["totals"]["failed"] == report["subsystems"]["workflows"]["failed"]
