"""The worked example backend, installed like a third-party plugin, passes the suite.

A fresh virtual environment gets the core, the contract suite and the example from
their folders (``uv venv`` + ``uv pip install``); the backend is then found through its
``orcheo.storage`` entry point and the bundled suite runs against it with nothing but
``pytest --orcheo-backend=example``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "contract_tests" / "examples" / "orcheo_storage_example"

pytestmark = pytest.mark.slow


def _clean_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ORCHEO_") and k not in {"PYTHONPATH", "VIRTUAL_ENV"}
    }
    env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    return env


def _run(cmd: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=cwd, env={**_clean_env(), **env}, capture_output=True, text=True, timeout=900
    )


@pytest.fixture(scope="module")
def venv_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    uv = shutil.which("uv")
    assert uv is not None, "uv is needed to build the fresh environment"
    where = tmp_path_factory.mktemp("example-venv")
    made = _run([uv, "venv", "--quiet", "--python", sys.executable, str(where / "venv")], where)
    assert made.returncode == 0, made.stderr
    python = where / "venv" / "bin" / "python"
    installed = _run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(python),
            str(ROOT / "orcheo_storage"),
            str(ROOT / "contract_tests"),
            str(EXAMPLE),
        ],
        where,
    )
    assert installed.returncode == 0, installed.stderr
    return python


def test_example_is_discovered_through_its_entry_point(venv_python: Path, tmp_path: Path) -> None:
    probe = (
        "import json\n"
        "from orcheo_storage.plugins.registry import create_registry\n"
        "registry = create_registry(strict=True)\n"
        "m = registry.get('example').manifest\n"
        "import orcheo_storage_example, orcheo_storage_contract_tests\n"
        "print(json.dumps({'names': registry.names(), 'dist': m.distribution,\n"
        "  'example_file': orcheo_storage_example.__file__,\n"
        "  'suite_file': orcheo_storage_contract_tests.__file__}))\n"
    )
    found = _run([str(venv_python), "-c", probe], tmp_path)
    assert found.returncode == 0, found.stderr
    info = json.loads(found.stdout)
    assert "example" in info["names"]
    assert info["dist"] == "orcheo-storage-example"
    venv_root = str(venv_python.parent.parent)
    # Installed copies, not the work tree.
    assert info["example_file"].startswith(venv_root)
    assert info["suite_file"].startswith(venv_root)


def test_bundled_suite_passes_on_the_example(venv_python: Path, tmp_path: Path) -> None:
    result = _run(
        [
            str(venv_python),
            "-m",
            "pytest",
            "--orcheo-backend=example",
            "--orcheo-report=report.json",
            "-p",
            "no:cacheprovider",
            "-q",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "orcheo storage conformance: example 0.1.0" in result.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["backend"]["name"] == "example"
    assert report["backend"]["distribution"] == "orcheo-storage-example"
    assert report["totals"]["failed"] == 0
    assert report["totals"]["passed"] > 200
    assert set(report["subsystems"]) >= {"workflows", "versions", "runs", "triggers", "listeners"}
    reasons = [r for s in report["subsystems"].values() for r in s["skipped_reasons"]]
    assert "backend does not declare capability cross_process_atomic" in reasons


def test_suite_runs_with_plugin_autoload_off(venv_python: Path, tmp_path: Path) -> None:
    suite = venv_python.parent.parent / "lib"
    modules = list(suite.glob("python3.*/site-packages/orcheo_storage_contract_tests/suite"))
    assert len(modules) == 1
    result = _run(
        [
            str(venv_python),
            "-m",
            "pytest",
            "-p",
            "orcheo_storage_contract_tests.plugin",
            "--orcheo-backend=example",
            "--orcheo-report=report.json",
            "-p",
            "no:cacheprovider",
            "-q",
            str(modules[0] / "test_runs.py"),
        ],
        tmp_path,
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["subsystems"]["runs"]["failed"] == 0
    assert report["subsystems"]["runs"]["passed"] >= 30
