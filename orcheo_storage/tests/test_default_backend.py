"""A backend selected only by default that is not installed: the error names the variables.

Here the registry holds only the memory backend, as a process would where only a backend
other than SQLite is installed (``pip install orcheo-storage-postgres``) and nothing is set.
"""

from __future__ import annotations

import os

import pytest
from orcheo_storage.errors import (
    BackendNotInstalledError,
    DefaultBackendNotInstalledError,
    UnknownBackendError,
)
from orcheo_storage.memory import plugin as memory_plugin
from orcheo_storage.plugins import create_registry
from orcheo_storage.plugins.registry import BackendRegistry
from orcheo_storage.plugins.selection import select_backend
from orcheo_storage.settings import load_settings
from orcheo_storage.storage import open_storage

EVERY_VARIABLE = (
    "ORCHEO_REPOSITORY_BACKEND, ORCHEO_CHECKPOINT_BACKEND, ORCHEO_CHATKIT_BACKEND, "
    "ORCHEO_VAULT_BACKEND, ORCHEO_AUTH_SERVICE_TOKEN_BACKEND"
)


@pytest.fixture(autouse=True)
def no_orcheo_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("ORCHEO_"):
            monkeypatch.delenv(name)


@pytest.fixture
def memory_only() -> BackendRegistry:
    registry = create_registry(discover=False)
    registry.register_backend(memory_plugin, name="memory")
    return registry


async def test_nothing_set_names_every_backend_variable(memory_only: BackendRegistry) -> None:
    with pytest.raises(DefaultBackendNotInstalledError) as info:
        async with open_storage(load_settings(), registry=memory_only):
            pass  # pragma: no cover - never opened
    assert str(info.value) == (
        "storage backend 'sqlite' is not installed. It is the default of "
        f"{EVERY_VARIABLE}, which are not set: set them to an installed backend (memory), "
        "or install it with: pip install orcheo-storage-sqlite"
    )
    assert info.value.variables == EVERY_VARIABLE.split(", ")
    assert info.value.installed == ["memory"]
    # still the error callers already catch for a backend that is not installed
    assert isinstance(info.value, BackendNotInstalledError)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


def test_only_the_unset_variables_are_named(
    memory_only: BackendRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCHEO_REPOSITORY_BACKEND", "memory")
    monkeypatch.setenv("ORCHEO_VAULT_BACKEND", "memory")
    settings = load_settings(checkpoint_backend="memory", auth_service_token_backend="memory")
    with pytest.raises(DefaultBackendNotInstalledError) as info:
        select_backend(memory_only, settings, "sqlite")
    assert str(info.value) == (
        "storage backend 'sqlite' is not installed. It is the default of "
        "ORCHEO_CHATKIT_BACKEND, which is not set: set it to an installed backend (memory), "
        "or install it with: pip install orcheo-storage-sqlite"
    )


def test_an_explicit_choice_keeps_the_plain_install_hint(
    memory_only: BackendRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCHEO_REPOSITORY_BACKEND", "sqlite")
    settings = load_settings(**dict.fromkeys(("checkpoint_backend", "chatkit_backend"), "memory"))
    assert settings.defaulted_backend_variables("sqlite") == [
        "ORCHEO_VAULT_BACKEND",
        "ORCHEO_AUTH_SERVICE_TOKEN_BACKEND",
    ]
    all_set = load_settings(
        **dict.fromkeys(("checkpoint_backend", "chatkit_backend", "vault_backend"), "memory"),
        auth_service_token_backend="sqlite",
    )
    assert all_set.defaulted_backend_variables("sqlite") == []
    with pytest.raises(BackendNotInstalledError) as info:
        select_backend(memory_only, all_set, "sqlite")
    assert type(info.value) is BackendNotInstalledError
    assert str(info.value) == (
        "storage backend 'sqlite' is not installed. Install it with: pip install "
        "orcheo-storage-sqlite"
    )


def test_other_selection_errors_are_unchanged(memory_only: BackendRegistry) -> None:
    with pytest.raises(UnknownBackendError):
        select_backend(memory_only, load_settings(repository_backend="sqlit"), "sqlit")
    assert select_backend(memory_only, load_settings(), "memory").manifest.name == "memory"
