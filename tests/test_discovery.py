"""Discovery proven with real installs: fresh virtual environments holding only the core and
fixture plugin distributions (tests/fixtures/plugins/), driven through the installed
``orcheo-storage`` script and a Python process of that environment. No mocks."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest
from venv_support import ROOT, UV, Venv

pytestmark = pytest.mark.slow

PLUGINS = ROOT / "tests" / "fixtures" / "plugins"

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


def open_storage(venv: Venv, backend: str, **env: str) -> subprocess.CompletedProcess[str]:
    selected = {
        f"ORCHEO_{name}_BACKEND": backend
        for name in ("REPOSITORY", "CHECKPOINT", "CHATKIT", "VAULT", "AUTH_SERVICE_TOKEN")
    }
    return venv.run(venv.python, "-c", SNIPPET, **selected, **env)


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

    opened = open_storage(venv, "toy")
    assert opened.returncode == 0, opened.stderr
    result = json.loads(opened.stdout)
    assert result["name"] == "discovered"
    assert set(result["backends"].values()) == {"toy"}

    missing = open_storage(venv, "sqlite")
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

    good = open_storage(venv, "toy")
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["name"] == "discovered"

    selected_broken = open_storage(venv, "broken")
    assert selected_broken.returncode != 0
    assert (
        "BackendBrokenError: storage backend 'broken' (orcheo-storage-broken 0.3.1) is installed "
        "but broken: import of 'orcheo_storage_broken.plugin' failed: "
        "ModuleNotFoundError(\"No module named 'orcheo_storage_missing_dependency'\")"
    ) in selected_broken.stderr
    assert "The above exception was the direct cause" in selected_broken.stderr  # chained

    selected_wrong = open_storage(venv, "wrongapi")
    assert selected_wrong.returncode != 0
    assert "storage API version 999" in selected_wrong.stderr

    strict = open_storage(venv, "toy", ORCHEO_PLUGINS_STRICT="true")
    assert strict.returncode != 0
    assert "BackendBrokenError" in strict.stderr
    assert "'broken' (orcheo-storage-broken 0.3.1)" in strict.stderr

    strict_code, strict_rows = venv.backends(ORCHEO_PLUGINS_STRICT="true")
    assert strict_code == 1
    assert strict_rows["broken"]["status"] == "broken"
