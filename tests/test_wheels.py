"""What a user gets from ``pip install``: each backend's wheel alone in a fresh virtual
environment, from a wheelhouse, with no index, no workspace and no editable install.

The wheelhouse is built once per run: this workspace's wheels (``uv build --all-packages``)
plus the locked versions of their dependencies (``uv export``), downloaded once into a
cache folder that later runs reuse offline (``ORCHEO_TEST_WHEEL_CACHE``, default
``~/.cache/orcheo-storage/test-wheels``). Every ``pip install`` then runs with
``--no-index --find-links`` and without the machine's pip configuration.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from venv_support import ROOT, UV, Venv

pytestmark = pytest.mark.slow

BACKEND_VARIABLES = [
    "ORCHEO_REPOSITORY_BACKEND",
    "ORCHEO_CHECKPOINT_BACKEND",
    "ORCHEO_CHATKIT_BACKEND",
    "ORCHEO_VAULT_BACKEND",
    "ORCHEO_AUTH_SERVICE_TOKEN_BACKEND",
]
STORAGE_DISTRIBUTIONS = {
    "orcheo-storage",
    "orcheo-storage-sqlite",
    "orcheo-storage-postgres",
    "orcheo-storage-contract-tests",
}
VERSION = re.search(
    r'^version = "([^"]+)"', (ROOT / "orcheo_storage" / "pyproject.toml").read_text(), re.M
)[1]  # type: ignore[index]
OPEN_DEFAULT = textwrap.dedent(
    """
    import asyncio
    from orcheo_storage import open_storage

    async def main():
        async with open_storage():
            pass

    asyncio.run(main())
    """
)


@dataclass(frozen=True)
class Wheelhouse:
    dist: Path  # this workspace's wheels
    deps: Path  # the locked dependencies' wheels

    def install_args(self, *extra_folders: Path) -> list[str]:
        """``pip install`` from these folders only (no bytecode compiled ahead: quicker)."""
        folders = [self.dist, *extra_folders, self.deps]
        return ["install", "--no-index", "--no-compile", *(f"--find-links={f}" for f in folders)]


def _uv(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """uv, from its cache when that is enough (offline), else with the network."""
    cached = subprocess.run(
        [UV, *args, "--offline"], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    if cached.returncode == 0:
        return cached
    return subprocess.run(
        [UV, *args], cwd=cwd, capture_output=True, text=True, timeout=600, check=True
    )


def build_wheels(source: Path, out: Path) -> None:
    """``uv build --wheel`` of one distribution folder, or of the whole workspace."""
    args = ["build", "--wheel", "-q", "-o", str(out)]
    if source == ROOT:
        args.append("--all-packages")
    else:
        args.append(str(source))
    _uv(*args, cwd=source)


def locked_requirements(*packages: str) -> list[str]:
    """The locked third-party requirements (with markers) of these workspace packages."""
    lines: set[str] = set()
    for package in packages:
        exported = _uv(
            "export", "--frozen", "--package", package, "--no-dev", "--no-emit-workspace",
            "--no-hashes", "--no-header", "--no-annotate", "--format", "requirements-txt",
        )  # fmt: skip
        lines.update(line.strip() for line in exported.stdout.splitlines() if line.strip())
    return sorted(lines)


def fill_cache(tool: Venv, requirements: Path, cache: Path) -> None:
    """Make sure every locked dependency's wheel is in ``cache`` (offline when it is)."""
    common = ["download", "--no-deps", "--only-binary=:all:", "--dest", str(cache)]
    local = tool.pip(*common, "--no-index", f"--find-links={cache}", "-r", str(requirements))
    if local.returncode == 0:
        return
    # Not all there: download with the machine's own pip settings (index, certificates).
    online = subprocess.run(
        [tool.python, "-m", "pip", *common, "-q", "-r", str(requirements)],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert online.returncode == 0, online.stderr[-3000:]


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Wheelhouse:
    base = tmp_path_factory.mktemp("wheelhouse")
    dist = base / "dist"
    build_wheels(ROOT, dist)
    assert {p.name.split("-")[0] for p in dist.glob("*.whl")} == {
        name.replace("-", "_") for name in STORAGE_DISTRIBUTIONS
    }
    requirements = base / "requirements.txt"
    requirements.write_text(
        "\n".join(locked_requirements("orcheo-storage-postgres", "orcheo-storage-sqlite")) + "\n"
    )
    default_cache = Path.home() / ".cache" / "orcheo-storage" / "test-wheels"
    cache = Path(os.environ.get("ORCHEO_TEST_WHEEL_CACHE", default_cache))
    cache.mkdir(parents=True, exist_ok=True)
    fill_cache(Venv(base / "tool", base / "home", pip=True), requirements, cache)
    return Wheelhouse(dist, cache)


def install_alone(base: Path, wheelhouse: Wheelhouse, distribution: str) -> Venv:
    """A fresh virtual environment with ``distribution`` installed as a user would."""
    venv = Venv(base / "venv", base / "home", pip=True)
    done = venv.pip(*wheelhouse.install_args(), distribution)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    storage = {name for name in venv.installed() if name.startswith("orcheo-storage")}
    assert storage == {"orcheo-storage", distribution}
    return venv


def assert_version_lines(venv: Venv, backend: str) -> None:
    done = venv.cli("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"orcheo-storage {VERSION} (backends: memory)",
        f"orcheo-storage-{backend} {VERSION} (backends: {backend})",
    ]


def assert_backends(venv: Venv, backend: str) -> None:
    code, rows = venv.backends()
    assert code == 0
    assert set(rows) == {"memory", backend}
    assert rows[backend]["status"] == "ok"
    assert (rows[backend]["distribution"], rows[backend]["version"]) == (
        f"orcheo-storage-{backend}",
        VERSION,
    )


@pytest.fixture(scope="module")
def postgres_venv(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Wheelhouse) -> Venv:
    """``pip install orcheo-storage-postgres`` alone (shared by this module's tests)."""
    return install_alone(tmp_path_factory.mktemp("postgres"), wheelhouse, "orcheo-storage-postgres")


@pytest.fixture
def pg_schema(pg_dsn: str) -> Iterator[str]:
    """A schema name of its own on the test server, dropped afterwards."""
    schema = f"wheels_{uuid.uuid4().hex[:10]}"
    yield schema
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_postgres_backend_alone(postgres_venv: Venv, pg_dsn: str, pg_schema: str) -> None:
    venv = postgres_venv
    assert_version_lines(venv, "postgres")
    assert_backends(venv, "postgres")

    # Nothing configured: the default (sqlite) is not installed, and the error says what to set.
    expected = (
        f"storage backend 'sqlite' is not installed. It is the default of "
        f"{', '.join(BACKEND_VARIABLES)}, which are not set: set them to an installed backend "
        "(memory, postgres), or install it with: pip install orcheo-storage-sqlite"
    )
    doctor = venv.cli("doctor")
    assert doctor.returncode == 1
    assert f"problem: sqlite: {expected}" in doctor.stdout
    opened = venv.run(venv.python, "-c", OPEN_DEFAULT)
    assert opened.returncode == 1
    assert f"DefaultBackendNotInstalledError: {expected}" in opened.stderr

    settings = {
        **dict.fromkeys(BACKEND_VARIABLES, "postgres"),
        "ORCHEO_POSTGRES_DSN": pg_dsn,
        "ORCHEO_POSTGRES_SCHEMA": pg_schema,
        "ORCHEO_VAULT_ENCRYPTION_KEY": "wheel-test-key",
    }
    before = venv.cli("doctor", "--json", **settings)
    assert before.returncode == 0, before.stdout + before.stderr
    assert json.loads(before.stdout)["subsystems"]["workflows"] == {
        "backend": "postgres",
        "status": "ok",
    }
    demo = venv.cli("demo", "--json", **settings)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    report = json.loads(demo.stdout)
    assert report["ok"] is True
    assert report["fallback"] is None
    assert {step["backend"] for step in report["steps"]} == {"postgres"}
    ran = {step["subsystem"]: step["status"] for step in report["steps"]}
    assert ran["workflows"] == ran["chatkit"] == ran["vault"] == "ok"
    after = venv.cli("doctor", "--json", **settings)
    assert after.returncode == 0, after.stdout + after.stderr
    (check,) = json.loads(after.stdout)["backends"]
    assert check["schema_pending"] == []
    assert check["schema_current"] == check["schema_latest"] > 0


def test_sqlite_backend_alone(tmp_path: Path, wheelhouse: Wheelhouse) -> None:
    venv = install_alone(tmp_path, wheelhouse, "orcheo-storage-sqlite")
    assert_version_lines(venv, "sqlite")
    assert_backends(venv, "sqlite")
    # The defaults work as they are: SQLite files under ~/.orcheo (HOME is the test's).
    doctor = venv.cli("doctor")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "doctor: all checks passed" in doctor.stdout
    demo = venv.cli("demo", "--json")
    assert demo.returncode == 0, demo.stdout + demo.stderr
    report = json.loads(demo.stdout)
    assert report["ok"] is True
    assert report["fallback"] is None
    assert {step["backend"] for step in report["steps"]} == {"sqlite"}
    assert (venv.home / ".orcheo" / "workflows.sqlite").is_file()
    assert (venv.home / ".orcheo" / "chatkit.sqlite").is_file()


def _copy_with_version(source: Path, target: Path, replacements: dict[str, str]) -> Path:
    """A copy of a distribution folder whose pyproject has ``replacements`` applied."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    pyproject = target / "pyproject.toml"
    text = pyproject.read_text()
    for old, new in replacements.items():
        assert old in text, f"{old!r} not in {pyproject}"
        text = text.replace(old, new)
    pyproject.write_text(text)
    return target


def test_an_incompatible_core_and_backend_pair_is_refused(
    tmp_path: Path, wheelhouse: Wheelhouse, postgres_venv: Venv
) -> None:
    venv = postgres_venv
    before = venv.installed()
    major, minor = (int(part) for part in VERSION.split(".")[:2])
    next_minor = f"{major}.{minor + 1}"
    others = tmp_path / "other-wheels"

    # A core of the next (incompatible) minor version, offered together with the backend.
    core = _copy_with_version(
        ROOT / "orcheo_storage",
        tmp_path / "core",
        {f'version = "{VERSION}"': f'version = "{next_minor}.0"'},
    )
    build_wheels(core, others / "core")
    newer_core = venv.pip(
        *wheelhouse.install_args(others / "core"),
        f"orcheo-storage=={next_minor}.0",
        "orcheo-storage-postgres",
    )
    assert newer_core.returncode != 0
    assert "ResolutionImpossible" in newer_core.stderr
    assert f"Cannot install orcheo-storage=={next_minor}.0 and" in newer_core.stderr
    assert f"The user requested orcheo-storage=={next_minor}.0" in newer_core.stdout

    # A backend built for that next core, installed where only this core is available.
    backend = _copy_with_version(
        ROOT / "orcheo_storage_sqlite",
        tmp_path / "sqlite",
        {
            f'version = "{VERSION}"': f'version = "{next_minor}.0"',
            f"orcheo-storage[chatkit]>={major}.{minor},<{next_minor}": (
                f"orcheo-storage[chatkit]>={next_minor},<{major}.{minor + 2}"
            ),
        },
    )
    build_wheels(backend, others / "backend")
    newer_backend = venv.pip(
        *wheelhouse.install_args(others / "backend"), f"orcheo-storage-sqlite=={next_minor}.0"
    )
    assert newer_backend.returncode != 0
    assert (
        f"Could not find a version that satisfies the requirement orcheo-storage[chatkit]"
        f"<{major}.{minor + 2},>={next_minor} (from orcheo-storage-sqlite) (from versions: {VERSION})"
    ) in newer_backend.stderr

    assert venv.installed() == before  # nothing was changed
    assert_version_lines(venv, "postgres")

    # Upgrading the core alone is where pip only warns (it does not weigh the installed
    # backend's requirement); the plugin host then refuses the backend, without importing it.
    # (This changes the module's postgres environment, so it comes last.)
    upgraded = venv.pip(
        *wheelhouse.install_args(others / "core"), "--upgrade", f"orcheo-storage=={next_minor}.0"
    )
    assert upgraded.returncode == 0, upgraded.stderr
    assert (
        f"orcheo-storage-postgres {VERSION} requires orcheo-storage[chatkit]<{next_minor},>={major}.{minor}, "
        f"but you have orcheo-storage {next_minor}.0 which is incompatible"
    ) in upgraded.stderr
    code, rows = venv.backends()
    assert code == 0
    assert rows["memory"]["status"] == "ok"
    assert rows["postgres"]["status"] == "broken"
    assert rows["postgres"]["error"].startswith(
        f"orcheo-storage-postgres {VERSION} requires orcheo-storage<{next_minor},>={major}.{minor}, "
        f"but orcheo-storage {next_minor}.0 is installed"
    )
