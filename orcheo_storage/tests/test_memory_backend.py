"""The memory backend as a plugin: manifest, discovery, sessions and provisioning."""

from __future__ import annotations

from pathlib import Path

import pytest
from orcheo_storage.errors import BackendUnavailableError, UnsupportedError
from orcheo_storage.memory import MemoryBackend
from orcheo_storage.memory.plugin import orcheo_storage_backend
from orcheo_storage.plugins.registry import create_registry
from orcheo_storage.protocols import (
    STORAGE_API_VERSION,
    BackendSession,
    Capability,
    StorageBackend,
    Subsystem,
)
from orcheo_storage.settings import StorageSettings
from orcheo_storage.storage import open_storage


def memory_settings() -> StorageSettings:
    """Every subsystem on the memory backend."""
    return StorageSettings(
        repository_backend="memory",
        checkpoint_backend="memory",
        chatkit_backend="memory",
        vault_backend="memory",
        auth_service_token_backend="memory",
    )


def test_manifest() -> None:
    backend = orcheo_storage_backend()
    assert isinstance(backend, StorageBackend)
    manifest = backend.manifest
    assert (manifest.name, manifest.distribution, manifest.api_version) == (
        "memory",
        "orcheo-storage",
        STORAGE_API_VERSION,
    )
    assert manifest.subsystems == frozenset(Subsystem) - {Subsystem.LANGGRAPH}
    assert manifest.capabilities == {Capability.JSON_CONTAINMENT, Capability.FULL_TEXT_SEARCH}
    assert manifest.version


def test_discovered_through_entry_point() -> None:
    backend = create_registry().get("memory")
    assert isinstance(backend, MemoryBackend)


async def test_session_contract_and_fresh_sessions() -> None:
    backend = MemoryBackend()
    settings = memory_settings()
    first = await backend.open(settings)
    second = await backend.open(settings)
    assert isinstance(first, BackendSession)
    await first.workflows().create_workflow(name="Only in first", actor="a")
    assert len(await first.workflows().list_workflows()) == 1
    assert await second.workflows().list_workflows() == []
    assert (await first.health()).ok
    status = await first.schema_status()
    assert (status.current, status.latest, status.pending) == (1, 1, [])
    assert await first.migrate_schema() == []
    assert await first.migrate_schema(dry_run=True) == []
    with pytest.raises(UnsupportedError):
        first.langgraph_checkpointer()
    await first.close()
    await first.close()  # idempotent
    assert not (await first.health()).ok
    with pytest.raises(BackendUnavailableError):
        first.workflows()
    await second.close()


async def test_provision_points_every_subsystem_at_memory(tmp_path: Path) -> None:
    backend = MemoryBackend()
    async with backend.provision(StorageSettings(), tmp_path) as provisioned:
        assert set(provisioned.selected_backends().values()) == {"memory"}
        async with open_storage(provisioned) as storage:
            assert storage.backend_names()["workflows"] == "memory"
            assert await storage.workflows.list_workflows() == []


async def test_open_storage_langgraph_unsupported() -> None:
    async with open_storage(memory_settings()) as storage:
        with pytest.raises(UnsupportedError):
            storage.langgraph_checkpointer()


async def test_webhook_cipher_is_made_on_first_use(tmp_path: Path) -> None:
    # With the vault on SQLite, the webhook cipher is the vault's key file: opening a
    # memory session must not create it; storing a webhook secret does.
    settings = StorageSettings(
        repository_backend="memory",
        vault_backend="sqlite",
        vault_local_path=tmp_path / "vault.sqlite",
    )
    key_file = tmp_path / "vault.key"
    session = await MemoryBackend().open(settings)
    wf = await session.workflows().create_workflow(name="Flow", actor="a")
    assert not key_file.exists()
    await session.triggers().set_webhook_config(wf.id, {"shared_secret": "s"})
    assert key_file.exists()
    config = await session.triggers().get_webhook_config(wf.id)
    assert config.shared_secret is not None
    assert config.shared_secret.get_secret_value() == "s"
    await session.close()
