"""Lazy backends (issue 15): discovery reads manifests without importing implementations, and
a backend whose implementation cannot load is still reported as broken, by ``orcheo-storage
backends`` and when selected."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from orcheo_storage.errors import BackendBrokenError
from orcheo_storage.plugins import create_registry
from orcheo_storage.plugins.lazy import find_module, unmet_requirements
from orcheo_storage.settings import BACKEND_SETTINGS, StorageSettings
from orcheo_storage.storage import open_storage

LAZY_PLUGIN = """
from orcheo_storage._manifest import STORAGE_API_VERSION, BackendManifest, Subsystem
from orcheo_storage.plugins import hookimpl
from orcheo_storage.plugins.lazy import import_lazily, verify_lazy

IMPLEMENTATION = {implementation!r}


class LazyToy:
    manifest = BackendManifest(
        name={name!r},
        distribution={distribution!r},
        version="2.0.0",
        api_version=STORAGE_API_VERSION,
        subsystems=frozenset(s for s in Subsystem if s is not Subsystem.LANGGRAPH),
    )

    def verify_installation(self):
        verify_lazy(self.manifest, [IMPLEMENTATION])

    async def open(self, settings):
        return await import_lazily(self.manifest, IMPLEMENTATION).open(settings)

    def provision(self, settings, workdir):
        raise NotImplementedError


@hookimpl
def orcheo_storage_backend():
    return LazyToy()
"""


def _install(
    root: Path,
    name: str,
    *,
    implementation: str,
    implementation_source: str | None = None,
    requires: tuple[str, ...] = (),
) -> str:
    """A distribution ``<name>-storage`` on ``root`` declaring backend ``name`` in the real
    ``orcheo.storage`` group, whose plugin module is light and imports ``implementation``
    on open. Returns the distribution name."""
    distribution = f"{name}-storage"
    module = f"{name}_plugin"
    (root / f"{module}.py").write_text(
        LAZY_PLUGIN.format(implementation=implementation, name=name, distribution=distribution)
    )
    if implementation_source is not None:
        (root / f"{implementation}.py").write_text(textwrap.dedent(implementation_source))
    info = root / f"{name}_storage-2.0.0.dist-info"
    info.mkdir()
    metadata = ["Metadata-Version: 2.1", f"Name: {distribution}", "Version: 2.0.0"]
    metadata += [f"Requires-Dist: {r}" for r in requires]
    (info / "METADATA").write_text("\n".join(metadata) + "\n")
    (info / "entry_points.txt").write_text(f"[orcheo.storage]\n{name} = {module}\n")
    return distribution


@pytest.fixture
def lazy_dists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:6]
    names = {
        "missing": f"lazymissing{suffix}",
        "unmet": f"lazyunmet{suffix}",
        "fails": f"lazyfails{suffix}",
    }
    # The implementation module is not installed at all.
    _install(tmp_path, names["missing"], implementation=f"no_such_impl_{suffix}")
    # The implementation is there, but a requirement of the distribution is not installed.
    _install(
        tmp_path,
        names["unmet"],
        implementation=f"impl_unmet_{suffix}",
        implementation_source="",
        requires=(f"no-such-dependency-{suffix}>=1", "pluggy>=1"),
    )
    # Everything is found, but the implementation fails when it is imported (on open).
    _install(
        tmp_path,
        names["fails"],
        implementation=f"impl_fails_{suffix}",
        implementation_source=f"import no_such_driver_{suffix}\n",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return names


def test_discovery_reports_a_lazy_backend_whose_implementation_cannot_load(
    lazy_dists: dict[str, str],
) -> None:
    registry = create_registry()
    failures = {f.name: f for f in registry.failures()}
    missing, unmet = failures[lazy_dists["missing"]], failures[lazy_dists["unmet"]]
    assert "implementation module 'no_such_impl_" in missing.reason
    assert "is not installed" in missing.reason
    assert (missing.distribution, missing.version) == (f"{lazy_dists['missing']}-storage", "2.0.0")
    assert "no-such-dependency-" in unmet.reason
    assert "(not installed)" in unmet.reason
    assert "pluggy" not in unmet.reason  # met requirements are not listed
    # The cheap check cannot see an import error inside the module: listed as ok...
    assert lazy_dists["fails"] in registry.names()
    for name in ("sqlite", "memory"):  # and the others are unaffected
        if name in registry.names():
            assert registry.get(name).manifest.name == name


def test_backends_command_lists_a_broken_lazy_backend(lazy_dists: dict[str, str]) -> None:
    from orcheo_storage.cli.app import app
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["backends", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    row = rows[lazy_dists["missing"]]
    assert row["status"] == "broken"
    assert row["distribution"] == f"{lazy_dists['missing']}-storage"
    assert "is not installed" in row["error"]
    assert rows[lazy_dists["unmet"]]["status"] == "broken"
    assert rows["memory"]["status"] == "ok"


async def test_selecting_a_lazy_backend_whose_import_fails_is_a_broken_backend_error(
    lazy_dists: dict[str, str], tmp_path: Path
) -> None:
    name = lazy_dists["fails"]
    settings = StorageSettings(
        **dict.fromkeys(BACKEND_SETTINGS, name),
        vault_local_path=tmp_path / "v.sqlite",
        vault_encryption_key="lazy-test-key",
    )
    with pytest.raises(BackendBrokenError) as info:
        async with open_storage(settings):
            pass
    message = str(info.value)
    assert message.startswith(f"storage backend {name!r} ({name}-storage 2.0.0) is installed")
    assert "import of 'impl_fails_" in message
    assert "no_such_driver_" in message
    assert isinstance(info.value.__cause__, ModuleNotFoundError)


def test_find_module_imports_nothing() -> None:
    code = textwrap.dedent(
        """
        import sys
        from orcheo_storage.plugins.lazy import find_module
        found = [find_module(m) for m in (
            "langgraph.checkpoint.sqlite.aio", "orcheo_storage_sqlite.session", "json.decoder",
            "no_such_top_level", "json.no_such_sub", "os.path.not_a_package",
        )]
        print(found)
        print(sorted(m for m in sys.modules if m.startswith(("langgraph", "orcheo_storage_sqlite"))))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    found, imported = out.stdout.splitlines()
    langgraph = find_module("langgraph.checkpoint.sqlite")  # the extra may be absent
    assert found == f"[{langgraph}, True, True, False, False, False]"
    assert imported == "[]"


def test_unmet_requirements_of_an_unknown_distribution_is_empty() -> None:
    assert unmet_requirements(f"no-such-distribution-{uuid.uuid4().hex[:6]}") == []
    assert unmet_requirements("orcheo-storage") == []


def test_import_and_discovery_stay_light() -> None:
    """``import orcheo_storage`` builds no pydantic model; listing the installed backends
    imports no backend implementation, driver or optional integration."""
    code = textwrap.dedent(
        """
        import sys
        import orcheo_storage
        first = sorted(m for m in sys.modules if m.startswith(("pydantic", "orcheo_storage.")))
        from orcheo_storage.plugins import create_registry
        rows = create_registry().describe()
        heavy = ("psycopg", "aiosqlite", "chatkit", "langgraph", "orcheo_storage.models",
                 "orcheo_storage_sqlite.session", "orcheo_storage_postgres.session")
        print(first)
        print(sorted({m for m in sys.modules if m.startswith(heavy)}))
        print(sorted(r["name"] for r in rows if r["status"] == "ok"))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, heavy, ok = out.stdout.splitlines()
    assert first == "[]"
    assert heavy == "[]"
    assert "'memory'" in ok
    assert "'sqlite'" in ok


def test_console_script_imports_only_the_command_it_runs() -> None:
    from orcheo_storage.cli.app import COMMANDS, VERSION_ONLY, _command, build_app

    assert _command(["backends", "--json"]) == "backends"
    assert _command(["migrate", "sync", "--help"]) == "migrate"
    assert _command(["--version"]) == VERSION_ONLY
    assert _command([]) is None
    assert _command(["--help"]) is None
    assert _command(["no-such-command"]) is None
    only = build_app("backends")
    assert [c.name for c in only.registered_commands] == ["backends"]
    full = build_app()
    names = [c.name for c in full.registered_commands] + [g.name for g in full.registered_groups]
    assert sorted(names) == sorted(COMMANDS)
    code = (
        "import sys; from orcheo_storage.cli.app import main; sys.argv = ['orcheo-storage', "
        "'backends', '--json']\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('orcheo_storage.migration', "
        "'orcheo_storage.cli.demo', 'orcheo_storage.models'))), file=sys.stderr)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stderr.strip() == "[]"
    assert any(row["name"] == "memory" for row in json.loads(out.stdout))
