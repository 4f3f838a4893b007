"""pytest plugin entry point of the contract suite (``pytest11: orcheo_storage_contract``).

Importing this module is cheap: it imports no backend. A backend is discovered and
loaded only when ``--orcheo-backend`` (or ``ORCHEO_CONTRACT_BACKEND``) names one; then
the suite's fixtures are registered, the Hypothesis profile is loaded, tests of
subsystems or capabilities the backend does not declare are skipped with a reason,
and a conformance report is written at the end.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from orcheo_storage_contract_tests import hookspecs

if TYPE_CHECKING:
    from orcheo_storage.plugins.registry import BackendRegistry
    from orcheo_storage.protocols.backend import StorageBackend

SUITE_DIR = Path(__file__).parent / "suite"
BACKEND_ENV = "ORCHEO_CONTRACT_BACKEND"
COMPARE_ENV = "ORCHEO_CONTRACT_COMPARE_BACKEND"
SUBSYSTEM_MARK = "orcheo_subsystem"
CAPABILITY_MARK = "orcheo_capability"
# Tests of a module without an explicit ``orcheo_subsystem`` mark need this subsystem.
MODULE_SUBSYSTEMS = {
    "test_workflows": "workflows",
    "test_workflows_model": "workflows",
    "test_versions": "workflows",
    "test_runs": "workflows",
    "test_triggers": "triggers",
    "test_triggers_model": "triggers",
    "test_listeners": "listeners",
    "test_listeners_model": "listeners",
    "test_remediations": "remediations",
    "test_remediations_model": "remediations",
    "test_history": "history",
    "test_history_model": "history",
    "test_tokens": "service_tokens",
    "test_tokens_model": "service_tokens",
    "test_agentensor": "agentensor",
    "test_agentensor_model": "agentensor",
    "test_vault": "vault",
    "test_vault_model": "vault",
    "test_chatkit": "chatkit",
    "test_chatkit_model": "chatkit",
}
# A fixed test key so that every process of one run (and every namespace) shares one
# vault key; an ORCHEO_VAULT_ENCRYPTION_KEY in the environment or a setting wins.
TEST_VAULT_KEY = "orcheo-contract-suite-test-key"


@dataclass
class ContractRun:
    """What this pytest run was asked to check, and the backend it resolved to."""

    backend_name: str
    overrides: dict[str, str] = field(repr=False)  # may hold a DSN with a password
    profile: str
    report_path: Path
    _registry: BackendRegistry | None = field(default=None, repr=False)
    _backend: StorageBackend | None = field(default=None, repr=False)

    def registry(self, config: pytest.Config) -> BackendRegistry:
        """The registry: installed backends plus any a hook registered."""
        if self._registry is None:
            from orcheo_storage.plugins.registry import create_registry

            registry = create_registry()
            config.hook.pytest_orcheo_storage_registry(registry=registry, config=config)
            self._registry = registry
        return self._registry

    def backend(self, config: pytest.Config) -> StorageBackend:
        """The selected backend.

        Raises:
            pytest.UsageError: it is unknown, not installed or broken.
        """
        if self._backend is None:
            from orcheo_storage.errors import PluginError

            try:
                self._backend = self.registry(config).get(self.backend_name)
            except PluginError as exc:
                raise pytest.UsageError(f"--orcheo-backend: {exc}") from exc
        return self._backend

    def base_settings(self) -> Any:
        """StorageSettings selecting the backend for every subsystem, plus the overrides.

        Raises:
            pytest.UsageError: an override names no setting or is invalid.
        """
        from orcheo_storage.errors import ConfigurationError
        from orcheo_storage.settings import BACKEND_SETTINGS, StorageSettings, load_settings

        values: dict[str, Any] = dict.fromkeys(BACKEND_SETTINGS, self.backend_name)
        if "ORCHEO_VAULT_ENCRYPTION_KEY" not in os.environ:
            values["vault_encryption_key"] = TEST_VAULT_KEY
        unknown = sorted(set(self.overrides) - set(StorageSettings.model_fields))
        if unknown:
            raise pytest.UsageError(f"--orcheo-setting: unknown setting(s) {', '.join(unknown)}")
        values.update(self.overrides)
        try:
            return load_settings(**values)
        except ConfigurationError as exc:
            raise pytest.UsageError(f"--orcheo-setting: {exc}") from exc


RUN_KEY = pytest.StashKey[ContractRun]()


def contract_run(config: pytest.Config) -> ContractRun | None:
    """The run's :class:`ContractRun`, or ``None`` when no backend was selected."""
    return config.stash.get(RUN_KEY, None)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)
    # The suite's async tests need pytest-asyncio even when plugin autoloading is off
    # (``-p orcheo_storage_contract_tests.plugin`` alone). Registering it under its entry
    # point name makes a later autoload skip it instead of registering it twice.
    if pluginmanager.get_plugin("asyncio") is None:
        import pytest_asyncio.plugin

        if not pluginmanager.is_registered(pytest_asyncio.plugin):
            pluginmanager.register(pytest_asyncio.plugin, "asyncio")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("orcheo-storage", "Orcheo storage contract suite")
    group.addoption(
        "--orcheo-backend",
        metavar="NAME",
        default=None,
        help=f"storage backend to check (env {BACKEND_ENV}); runs the bundled suite when no "
        "test paths are given",
    )
    group.addoption(
        "--orcheo-setting",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="override one StorageSettings field, e.g. postgres_dsn=postgresql://... "
        "(repeatable; ORCHEO_* environment variables still apply)",
    )
    group.addoption(
        "--orcheo-profile",
        choices=("default", "deep"),
        default="default",
        help="Hypothesis profile: default (fast) or deep (many examples, long state machines)",
    )
    group.addoption(
        "--orcheo-report",
        metavar="PATH",
        default="conformance-report.json",
        help="where to write the JSON conformance report",
    )
    group.addoption(
        "--orcheo-compare-backend",
        metavar="NAME",
        default=None,
        help=f"second backend of the differential test (env {COMPARE_ENV}; default memory)",
    )


def _parse_overrides(items: list[str]) -> dict[str, str]:
    overrides: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise pytest.UsageError(f"--orcheo-setting expects KEY=VALUE, got {key!r}=...")
        overrides[key.strip().lower()] = value
    return overrides


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{SUBSYSTEM_MARK}(name): contract test of one storage subsystem; skipped when the "
        "backend does not provide it",
    )
    config.addinivalue_line(
        "markers",
        f"{CAPABILITY_MARK}(name): needs an optional backend capability; skipped when "
        "undeclared, must pass when declared",
    )
    name = config.getoption("orcheo_backend") or os.environ.get(BACKEND_ENV)
    if not name:
        return
    from orcheo_storage_contract_tests import fixtures
    from orcheo_storage_contract_tests.profiles import load_profile
    from orcheo_storage_contract_tests.report import ConformanceReporter

    run = ContractRun(
        backend_name=name.strip().lower(),
        overrides=_parse_overrides(config.getoption("orcheo_setting")),
        profile=config.getoption("orcheo_profile"),
        report_path=Path(config.getoption("orcheo_report")),
    )
    config.stash[RUN_KEY] = run
    run.backend(config)  # fail fast on an unknown or broken backend
    run.base_settings()  # and on bad overrides
    load_profile(run.profile)
    if not config.pluginmanager.is_registered(fixtures):
        config.pluginmanager.register(fixtures, "orcheo_storage_contract_fixtures")
    config.pluginmanager.register(
        ConformanceReporter(config, run), "orcheo_storage_contract_report"
    )
    # `pytest --orcheo-backend=NAME` with no paths runs the bundled suite.
    if config.args_source is not pytest.Config.ArgsSource.ARGS:
        config.args[:] = [str(SUITE_DIR)]


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    run = contract_run(config)
    if run is None:
        return None
    manifest = run.backend(config).manifest
    caps = ", ".join(sorted(c.value for c in manifest.capabilities)) or "none"
    return [
        f"orcheo storage backend: {manifest.name} ({manifest.distribution} {manifest.version}, "
        f"api {manifest.api_version}); capabilities: {caps}; profile: {run.profile}"
    ]


def _in_suite(path: Path) -> bool:
    try:
        path.resolve().relative_to(SUITE_DIR.resolve())
    except ValueError:
        return False
    return True


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> None:
    # The suite's async tests run under pytest-asyncio whatever asyncio_mode the backend
    # author's project uses: mark them before pytest-asyncio inspects the item.
    if (
        inspect.iscoroutinefunction(obj)
        and name.startswith("test")
        and isinstance(collector, pytest.Module | pytest.Class)
        and _in_suite(collector.path)
        and not any(m.name == "asyncio" for m in getattr(obj, "pytestmark", []))
    ):
        pytest.mark.asyncio(obj)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    suite_items = [item for item in items if _in_suite(item.path)]
    if not suite_items:
        return
    run = contract_run(config)
    if run is None:
        raise pytest.UsageError(
            f"the Orcheo storage contract suite needs a backend: pass --orcheo-backend NAME "
            f"(or set {BACKEND_ENV})"
        )
    manifest = run.backend(config).manifest
    provided = {s.value for s in manifest.subsystems}
    declared = {c.value for c in manifest.capabilities}
    for item in suite_items:
        needed = {mark.args[0] for mark in item.iter_markers(SUBSYSTEM_MARK)}
        if not needed and item.path.stem in MODULE_SUBSYSTEMS:
            needed = {MODULE_SUBSYSTEMS[item.path.stem]}
        for subsystem in sorted(needed - provided):
            item.add_marker(
                pytest.mark.skip(reason=f"backend does not provide subsystem {subsystem}")
            )
        for mark in item.iter_markers(CAPABILITY_MARK):
            if mark.args[0] not in declared:
                item.add_marker(
                    pytest.mark.skip(reason=f"backend does not declare capability {mark.args[0]}")
                )


def run_suite(
    backend: str,
    *,
    settings: dict[str, str] | None = None,
    profile: str = "default",
    report: str | Path = "conformance-report.json",
    extra_args: list[str] | None = None,
) -> int:
    """Run the bundled suite against ``backend`` in this process (for ``orcheo-storage
    contract-test``).

    Returns:
        pytest's exit code (0 when every test passed or was skipped for a reason).
    """
    args = [
        "-p",
        "orcheo_storage_contract_tests.plugin",
        f"--orcheo-backend={backend}",
        f"--orcheo-profile={profile}",
        f"--orcheo-report={report}",
        *(f"--orcheo-setting={k}={v}" for k, v in (settings or {}).items()),
        *(extra_args or []),
        str(SUITE_DIR),
    ]
    return int(pytest.main(args))
