"""Discovery proven with real installs: fresh virtual environments holding only the core and
fixture plugin distributions (tests/fixtures/plugins/), driven through the installed
``orcheo-storage`` script and a Python process of that environment. No mocks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = ROOT / "tests" / "fixtures" / "plugins"
UV = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")

# Opens storage with the settings of the environment, writes and reads back one workflow.
SNIPPET = textwrap.dedent(
    """
    import asyncio, json
    from orcheo_storage import open_storage

    async def main():
        async with open_storage() as storage:
            repo = storage.workflows
            wf = await repo.create_workflow(name="discovered", actor="test")
            back = await repo.get_workflow(wf.id)
            print(json.dumps({"backends": storage.backend_names(), "name": back.name}))

    asyncio.run(main())
    """
)


class Venv:
    """A fresh virtual environment in ``path``, with helpers to install into and run it."""

    def __init__(self, path: Path, home: Path) -> None:
        self.path = path
        self.home = home  # HOME of every process, so nothing touches the real ~/.orcheo
        subprocess.run([UV, "venv", "-q", "--python", sys.executable, str(path)], check=True)

    @property
    def python(self) -> str:
        return str(self.path / "bin" / "python")

    def install(self, *requirements: str | Path) -> None:
        """Install from uv's cache when it holds everything (works offline), else from PyPI."""
        command = [UV, "pip", "install", "-q", "--python", self.python, *map(str, requirements)]
        cached = subprocess.run([*command, "--offline"], capture_output=True, timeout=300)
        if cached.returncode != 0:
            subprocess.run(command, check=True, timeout=300)

    def env(self, extra: Mapping[str, str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCHEO_", "VIRTUAL_ENV"))}
        env.update(HOME=str(self.home), **extra)
        return env

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args), capture_output=True, text=True, env=self.env(env), timeout=120, check=False
        )

    def backends(self, **env: str) -> tuple[int, dict[str, dict[str, Any]]]:
        done = self.run(str(self.path / "bin" / "orcheo-storage"), "backends", "--json", **env)
        return done.returncode, {row["name"]: row for row in json.loads(done.stdout)}

    def open_storage(self, backend: str, **env: str) -> subprocess.CompletedProcess[str]:
        selected = {
            f"ORCHEO_{name}_BACKEND": backend
            for name in ("REPOSITORY", "CHECKPOINT", "CHATKIT", "VAULT", "AUTH_SERVICE_TOKEN")
        }
        return self.run(self.python, "-c", SNIPPET, **selected, **env)


def core_with(tmp_path: Path, *plugins: str) -> Venv:
    venv = Venv(tmp_path / "venv", tmp_path / "home")
    venv.install(ROOT / "orcheo_storage", *(PLUGINS / p for p in plugins))
    return venv


def test_core_plus_one_backend_is_listed_and_selected(tmp_path: Path) -> None:
    venv = core_with(tmp_path, "good_backend")
    listed = subprocess.run(
        [UV, "pip", "list", "--python", venv.python, "--format", "json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    installed = {p["name"] for p in json.loads(listed.stdout)}
    assert {"orcheo-storage", "orcheo-storage-toy"} <= installed
    assert not installed & {"orcheo-storage-sqlite", "orcheo-storage-postgres"}

    code, rows = venv.backends()
    assert code == 0
    assert set(rows) == {"memory", "toy"}  # only what is installed; nothing else is listed
    toy = rows["toy"]
    assert toy["status"] == "ok"
    assert (toy["distribution"], toy["version"], toy["api_version"]) == (
        "orcheo-storage-toy", "0.3.1", 1,
    )  # fmt: skip
    assert "workflows" in toy["subsystems"]

    opened = venv.open_storage("toy")
    assert opened.returncode == 0, opened.stderr
    result = json.loads(opened.stdout)
    assert result["name"] == "discovered"
    assert set(result["backends"].values()) == {"toy"}

    missing = venv.open_storage("sqlite")
    assert missing.returncode != 0
    assert (
        "storage backend 'sqlite' is not installed. Install it with: pip install orcheo-storage-sqlite"
        in missing.stderr
    )
    assert not (tmp_path / "home" / ".orcheo" / "workflows.sqlite").exists()


def test_broken_and_wrong_api_plugins_are_reported_and_do_not_stop_the_good_one(
    tmp_path: Path,
) -> None:
    venv = core_with(tmp_path, "good_backend", "broken_backend", "wrong_api_backend")

    code, rows = venv.backends()
    assert code == 0
    assert rows["toy"]["status"] == "ok"
    broken, wrong = rows["broken"], rows["wrongapi"]
    assert broken["status"] == wrong["status"] == "broken"
    assert (broken["distribution"], broken["version"]) == ("orcheo-storage-broken", "0.3.1")
    assert "orcheo_storage_missing_dependency" in broken["error"]
    assert (wrong["distribution"], wrong["version"]) == ("orcheo-storage-wrongapi", "0.3.1")
    assert "implements storage API version 999, this host supports version 1" in wrong["error"]

    good = venv.open_storage("toy")
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["name"] == "discovered"

    selected_broken = venv.open_storage("broken")
    assert selected_broken.returncode != 0
    assert (
        "BackendBrokenError: storage backend 'broken' (orcheo-storage-broken 0.3.1) is installed "
        "but broken: import of 'orcheo_storage_broken.plugin' failed: "
        "ModuleNotFoundError(\"No module named 'orcheo_storage_missing_dependency'\")"
    ) in selected_broken.stderr
    assert "The above exception was the direct cause" in selected_broken.stderr  # chained

    selected_wrong = venv.open_storage("wrongapi")
    assert selected_wrong.returncode != 0
    assert "storage API version 999" in selected_wrong.stderr

    strict = venv.open_storage("toy", ORCHEO_PLUGINS_STRICT="true")
    assert strict.returncode != 0
    assert "BackendBrokenError" in strict.stderr
    assert "'broken' (orcheo-storage-broken 0.3.1)" in strict.stderr

    strict_code, strict_rows = venv.backends(ORCHEO_PLUGINS_STRICT="true")
    assert strict_code == 1
    assert strict_rows["broken"]["status"] == "broken"
