"""The plugin host: discovery from real entry points, validation, the three selection errors,
strict mode, and how ``open_storage`` opens and shares backend sessions."""

from __future__ import annotations

import re
import textwrap
import uuid
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from orcheo_storage.errors import (
    ApiVersionMismatchError,
    BackendBrokenError,
    BackendNotInstalledError,
    ConfigurationError,
    PluginError,
    UnknownBackendError,
    UnsupportedError,
)
from orcheo_storage.memory.plugin import MemoryBackend
from orcheo_storage.plugins import create_registry, hookimpl
from orcheo_storage.plugins.registry import BackendRegistry
from orcheo_storage.protocols.backend import STORAGE_API_VERSION, BackendManifest, Subsystem
from orcheo_storage.settings import StorageSettings
from orcheo_storage.storage import create_repository, open_storage

ALL_BACKENDS = (
    "repository_backend",
    "checkpoint_backend",
    "chatkit_backend",
    "vault_backend",
    "auth_service_token_backend",
)


class CountingSession:
    """Delegates to a real memory session and counts closes."""

    def __init__(self, inner: Any, owner: CountingBackend) -> None:
        self._inner = inner
        self._owner = owner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def close(self) -> None:
        self._owner.closed += 1
        await self._inner.close()


class CountingBackend:
    """A real backend (the memory one) under another name, counting opens and closes."""

    def __init__(self, name: str, *, fail_open: bool = False) -> None:
        self._inner = MemoryBackend()
        self.name = name
        self.fail_open = fail_open
        self.opened = 0
        self.closed = 0

    @property
    def manifest(self) -> BackendManifest:
        return self._inner.manifest.model_copy(update={"name": self.name, "distribution": "test"})

    async def open(self, settings: StorageSettings) -> Any:
        if self.fail_open:
            raise ConfigurationError(f"{self.name} cannot open")
        self.opened += 1
        return CountingSession(await self._inner.open(settings), self)

    def provision(
        self, settings: StorageSettings, workdir: Path
    ) -> AbstractAsyncContextManager[StorageSettings]:
        return self._inner.provision(settings, workdir)


class Plugin:
    """A plugin object whose hook returns ``backend`` (or raises it when it is an exception)."""

    def __init__(self, backend: object) -> None:
        self.backend = backend

    @hookimpl
    def orcheo_storage_backend(self) -> Any:
        if isinstance(self.backend, BaseException):
            raise self.backend
        return self.backend


def bare_registry(*backends: CountingBackend, strict: bool = False) -> BackendRegistry:
    registry = create_registry(strict=strict, discover=False)
    registry.register_backend(Plugin(MemoryBackend()), name="memory")
    for backend in backends:
        registry.register_backend(Plugin(backend), name=backend.name)
    return registry


def settings_for(**backends: str) -> StorageSettings:
    values: dict[str, Any] = {field: backends.get(field, "memory") for field in ALL_BACKENDS}
    # a vault on a backend not named "memory" would otherwise create ~/.orcheo/vault.key
    return StorageSettings(**values, vault_encryption_key="plugin-tests-key")


# --- the three selection errors -------------------------------------------------------------------


def test_unknown_backend_lists_installed_names_and_suggests() -> None:
    registry = bare_registry(CountingBackend("alpha"))
    with pytest.raises(UnknownBackendError) as info:
        registry.get("memroy")
    assert str(info.value) == (
        "unknown storage backend 'memroy'. Did you mean 'memory'? Installed backends: alpha, memory."
    )
    assert info.value.suggestion == "memory"
    assert info.value.installed == ["alpha", "memory"]


def test_unknown_backend_suggests_known_but_uninstalled_names_too() -> None:
    with pytest.raises(UnknownBackendError, match="Did you mean 'postgres'"):
        bare_registry().get("postgress")


def test_unknown_backend_without_a_close_name() -> None:
    with pytest.raises(UnknownBackendError) as info:
        bare_registry().get("zzz")
    assert str(info.value) == "unknown storage backend 'zzz'. Installed backends: memory."


@pytest.mark.parametrize(
    ("name", "dist"), [("postgres", "orcheo-storage-postgres"), ("sqlite", "orcheo-storage-sqlite")]
)
def test_known_but_not_installed_gives_the_pip_command(name: str, dist: str) -> None:
    with pytest.raises(BackendNotInstalledError) as info:
        bare_registry().get(name)
    assert str(info.value) == (
        f"storage backend {name!r} is not installed. Install it with: pip install {dist}"
    )


# --- real entry points in a temporary distribution ------------------------------------------------


@pytest.fixture
def plugin_dists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Install (on sys.path) a fake distribution with good and broken entry points.

    Returns the entry-point group to discover (unique per test, so nothing leaks).
    """
    group = f"orcheo.storage.test{uuid.uuid4().hex[:8]}"
    module = f"toy_plugin_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(
        textwrap.dedent(
            """
            from orcheo_storage.memory.plugin import MemoryBackend
            from orcheo_storage.plugins import hookimpl

            class Toy(MemoryBackend):
                @property
                def manifest(self):
                    return super().manifest.model_copy(update={"name": "toy"})

            @hookimpl
            def orcheo_storage_backend():
                return Toy()
            """
        )
    )
    dist = tmp_path / "toy_storage-1.2.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-storage\nVersion: 1.2.3\n")
    (dist / "entry_points.txt").write_text(
        f"[{group}]\n"
        f"toy = {module}\n"
        f"broken = no_such_module_{uuid.uuid4().hex[:6]}\n"
        f"misnamed = {module}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return group


def test_discovery_isolates_broken_plugins(plugin_dists: str) -> None:
    registry = create_registry(discover=False)
    registry.discover(group=plugin_dists)
    assert registry.names() == ["toy"]
    failures = {f.name: f for f in registry.failures()}
    assert set(failures) == {"broken", "misnamed"}
    assert failures["broken"].distribution == "toy-storage"
    assert failures["broken"].version == "1.2.3"
    assert isinstance(failures["broken"].error, ModuleNotFoundError)
    assert "provides a backend named 'toy'; the names must match" in failures["misnamed"].reason
    rows = {r["name"]: r for r in registry.describe()}
    assert rows["toy"]["status"] == "ok"
    assert rows["toy"]["api_version"] == STORAGE_API_VERSION
    assert rows["broken"]["status"] == "broken"
    assert rows["broken"]["distribution"] == "toy-storage"
    assert "import of" in rows["broken"]["error"]


def test_installed_but_broken_names_distribution_and_version_and_chains(plugin_dists: str) -> None:
    registry = create_registry(discover=False)
    registry.discover(group=plugin_dists)
    with pytest.raises(BackendBrokenError) as info:
        registry.get("broken")
    message = str(info.value)
    assert message.startswith(
        "storage backend 'broken' (toy-storage 1.2.3) is installed but broken: import of 'no_such_module_"
    )
    assert "ModuleNotFoundError" in message
    assert isinstance(info.value.__cause__, ModuleNotFoundError)
    assert (info.value.distribution, info.value.version) == ("toy-storage", "1.2.3")


def test_strict_mode_makes_any_broken_plugin_fatal(plugin_dists: str) -> None:
    registry = BackendRegistry(strict=True)
    with pytest.raises(BackendBrokenError, match=re.escape("'broken' (toy-storage 1.2.3)")) as info:
        registry.discover(group=plugin_dists)
    assert isinstance(info.value.__cause__, ModuleNotFoundError)


async def test_selected_discovered_backend_opens(plugin_dists: str) -> None:
    registry = create_registry(discover=False)
    registry.discover(group=plugin_dists)
    async with open_storage(
        settings_for(**dict.fromkeys(ALL_BACKENDS, "toy")), registry=registry
    ) as s:
        wf = await s.workflows.create_workflow(name="via toy", actor="t")
        assert (await s.workflows.get_workflow(wf.id)).name == "via toy"
        assert s.backend_names()["workflows"] == "toy"


# --- register_backend validation ------------------------------------------------------------------


class NoHook:
    def orcheo_storage_backend(self) -> Any:  # not marked with @hookimpl
        return MemoryBackend()


class Misspelt:
    @hookimpl
    def orcheo_storage_backends(self) -> Any:
        return MemoryBackend()


class WrongApi(CountingBackend):
    @property
    def manifest(self) -> BackendManifest:
        return super().manifest.model_copy(update={"api_version": STORAGE_API_VERSION + 98})


class NoOpen:
    manifest = MemoryBackend().manifest


@pytest.mark.parametrize(
    ("plugin", "fragment"),
    [
        (NoHook(), "implements no orcheo_storage_backend hook"),
        (Misspelt(), "unknown hook 'orcheo_storage_backends'"),
        (Plugin(object()), "returned object without a BackendManifest"),
        (Plugin(NoOpen()), "backend lacks open() or provision()"),
        (Plugin(RuntimeError("boom in hook")), "RuntimeError('boom in hook')"),
    ],
)
def test_register_backend_validates(plugin: object, fragment: str) -> None:
    registry = create_registry(discover=False)
    with pytest.raises(BackendBrokenError) as info:
        registry.register_backend(plugin, name="bad")
    assert fragment in str(info.value)
    assert str(info.value).startswith("storage backend 'bad' is installed but broken: ")
    assert info.value.__cause__ is not None
    assert registry.names() == []
    with pytest.raises(BackendBrokenError):
        registry.get("bad")  # recorded as broken, not unknown


def test_api_version_mismatch_is_refused_with_a_clear_message() -> None:
    registry = create_registry(discover=False)
    with pytest.raises(BackendBrokenError) as info:
        registry.register_backend(Plugin(WrongApi("future")), name="future")
    assert isinstance(info.value.__cause__, ApiVersionMismatchError)
    assert (
        f"plugin 'future' implements storage API version {STORAGE_API_VERSION + 98}, "
        f"this host supports version {STORAGE_API_VERSION}"
    ) in str(info.value)


def test_register_backend_returns_the_backend_under_its_manifest_name() -> None:
    registry = create_registry(discover=False)
    backend = CountingBackend("alpha")
    assert registry.register_backend(Plugin(backend)) is backend
    assert registry.get("alpha") is backend
    assert [m.name for m in registry.manifests()] == ["alpha"]


def test_a_later_good_registration_clears_a_failure() -> None:
    registry = create_registry(discover=False)
    with pytest.raises(PluginError):
        registry.register_backend(Plugin(RuntimeError("x")), name="alpha")
    registry.register_backend(Plugin(CountingBackend("alpha")), name="alpha")
    assert registry.failures() == []


def test_registry_is_not_filled_at_import_time() -> None:
    assert create_registry(discover=False).names() == []
    assert create_registry(discover=False) is not create_registry(discover=False)


def test_discovered_memory_backend_is_installed_through_its_entry_point() -> None:
    registry = create_registry()
    assert "memory" in registry.names()
    assert registry.get("memory").manifest.distribution == "orcheo-storage"


# --- open_storage ---------------------------------------------------------------------------------


async def test_open_storage_opens_only_selected_backends_and_shares_sessions() -> None:
    alpha, beta, gamma = CountingBackend("alpha"), CountingBackend("beta"), CountingBackend("gamma")
    registry = bare_registry(alpha, beta, gamma)
    settings = settings_for(
        repository_backend="alpha",
        checkpoint_backend="alpha",
        vault_backend="alpha",
        auth_service_token_backend="alpha",
        chatkit_backend="gamma",
    )
    async with open_storage(settings, registry=registry) as storage:
        assert (alpha.opened, beta.opened, gamma.opened) == (1, 0, 1)
        same = storage.session_for(Subsystem.WORKFLOWS)
        for subsystem in (Subsystem.HISTORY, Subsystem.VAULT, Subsystem.SERVICE_TOKENS):
            assert storage.session_for(subsystem) is same
        assert storage.session_for(Subsystem.CHATKIT) is not same
        assert storage.sessions().keys() == {"alpha", "gamma"}
        # stores on one backend really share data: a workflow is visible to the run history of
        # the same session and the vault is one object per storage
        wf = await storage.workflows.create_workflow(name="shared", actor="t")
        assert (await same.workflows().get_workflow(wf.id)).id == wf.id
        assert storage.vault is storage.vault
        assert (alpha.closed, gamma.closed) == (0, 0)
    assert (alpha.closed, beta.closed, gamma.closed) == (1, 0, 1)


async def test_open_storage_closes_everything_on_error() -> None:
    alpha = CountingBackend("alpha")
    registry = bare_registry(alpha)
    with pytest.raises(RuntimeError, match="inside"):
        async with open_storage(settings_for(repository_backend="alpha"), registry=registry):
            raise RuntimeError("inside")
    assert alpha.closed == 1


async def test_open_storage_closes_opened_sessions_when_a_later_open_fails() -> None:
    alpha, broken = CountingBackend("alpha"), CountingBackend("zeta", fail_open=True)
    registry = bare_registry(alpha, broken)
    settings = settings_for(repository_backend="alpha", vault_backend="zeta")
    with pytest.raises(ConfigurationError, match="zeta cannot open"):
        async with open_storage(settings, registry=registry):
            pytest.fail("must not be reached")
    assert (alpha.opened, alpha.closed) == (1, 1)


async def test_selection_error_opens_nothing() -> None:
    alpha = CountingBackend("alpha")
    registry = bare_registry(alpha)
    with pytest.raises(UnknownBackendError):
        async with open_storage(
            settings_for(repository_backend="alpha", vault_backend="nope"), registry=registry
        ):
            pytest.fail("must not be reached")
    assert alpha.opened == 0


async def test_unsupported_subsystem_is_reported() -> None:
    async with open_storage(settings_for(), registry=bare_registry()) as storage:
        with pytest.raises(UnsupportedError, match="'memory' does not provide the langgraph"):
            storage.langgraph_checkpointer()


async def test_factory_opens_one_backend_only() -> None:
    alpha, gamma = CountingBackend("alpha"), CountingBackend("gamma")
    registry = bare_registry(alpha, gamma)
    settings = settings_for(repository_backend="alpha", chatkit_backend="gamma")
    # the factories use the default registry; check the settings they derive instead
    from orcheo_storage.storage import _only

    only = _only(settings, Subsystem.WORKFLOWS)
    assert set(only.selected_backends().values()) == {"alpha"}
    async with open_storage(only, registry=registry) as storage:
        assert storage.sessions().keys() == {"alpha"}
    assert gamma.opened == 0


async def test_create_repository_on_memory() -> None:
    async with create_repository(settings_for()) as repo:
        wf = await repo.create_workflow(name="factory", actor="t")
        assert (await repo.list_workflows())[0].id == wf.id


@pytest.mark.parametrize(
    ("factory_name", "protocol_name"),
    [
        ("create_repository", "WorkflowRepository"),
        ("create_trigger_store", "TriggerStore"),
        ("create_listener_store", "ListenerStore"),
        ("create_remediation_store", "RemediationStore"),
        ("create_history_store", "HistoryStore"),
        ("create_service_token_store", "ServiceTokenStore"),
        ("create_agentensor_store", "AgentensorStore"),
        ("create_chatkit_store", "ChatStore"),
    ],
)
async def test_every_factory_yields_its_store(factory_name: str, protocol_name: str) -> None:
    import orcheo_storage
    from orcheo_storage import protocols

    factory = getattr(orcheo_storage, factory_name)
    async with factory(settings_for()) as store:
        assert isinstance(store, getattr(protocols, protocol_name))


async def test_create_vault_and_storage_repr_hide_secrets() -> None:
    from orcheo_storage import create_vault

    settings = settings_for().model_copy(update={"vault_encryption_key": None})
    async with create_vault(settings) as vault:
        cred = await vault.create_credential(name="n", provider="p", secret="sek-123", actor="t")
        assert (await vault.reveal_secret(cred.id)).get_secret_value() == "sek-123"
    async with open_storage(settings_for(), registry=bare_registry()) as storage:
        assert repr(storage) == f"Storage(backends={storage.backend_names()!r})"
        assert "plugin-tests-key" not in repr(storage.vault)


def test_a_second_plugin_with_a_taken_name_is_refused_clearly() -> None:
    registry = create_registry(discover=False)
    first = CountingBackend("alpha")
    registry.register_backend(Plugin(first))
    with pytest.raises(BackendBrokenError) as info:
        registry.register_backend(Plugin(CountingBackend("alpha")))
    taken_by = f"test {first.manifest.version}"
    assert str(info.value).endswith(f"backend name 'alpha' is already taken by {taken_by}")
    assert registry.get("alpha") is first
    assert registry.names() == ["alpha"]
