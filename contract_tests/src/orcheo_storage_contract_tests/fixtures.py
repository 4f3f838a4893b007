"""The fixtures every contract test uses. Their names are part of the suite's API.

Registered by the plugin only when a backend is selected.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest
import pytest_asyncio
from orcheo_storage.errors import PluginError
from orcheo_storage.plugins.registry import BackendRegistry
from orcheo_storage.protocols.backend import BackendManifest, StorageBackend
from orcheo_storage.settings import BACKEND_SETTINGS, StorageSettings
from orcheo_storage.storage import Storage, open_storage

from orcheo_storage_contract_tests.plugin import COMPARE_ENV, ContractRun, contract_run


def _run(config: pytest.Config) -> ContractRun:
    run = contract_run(config)
    if run is None:
        pytest.fail("no storage backend selected: pass --orcheo-backend NAME", pytrace=False)
    return run


@pytest.fixture(scope="session")
def orcheo_registry(pytestconfig: pytest.Config) -> BackendRegistry:
    """The registry the backend was selected from (for ``open_storage(..., registry=)``)."""
    return _run(pytestconfig).registry(pytestconfig)


@pytest.fixture(scope="session")
def orcheo_backend(pytestconfig: pytest.Config) -> StorageBackend:
    """The backend under test (``create_registry().get(--orcheo-backend)``)."""
    return _run(pytestconfig).backend(pytestconfig)


@pytest.fixture(scope="session")
def backend_manifest(orcheo_backend: StorageBackend) -> BackendManifest:
    """The backend's manifest: name, version, subsystems, capabilities."""
    return orcheo_backend.manifest


@pytest.fixture(scope="session")
def orcheo_base_settings(pytestconfig: pytest.Config) -> StorageSettings:
    """Settings selecting the backend for every subsystem, with ``--orcheo-setting``s."""
    settings: StorageSettings = _run(pytestconfig).base_settings()
    return settings


@pytest_asyncio.fixture
async def provisioned_settings(
    orcheo_backend: StorageBackend, orcheo_base_settings: StorageSettings, tmp_path: Path
) -> AsyncIterator[StorageSettings]:
    """Settings of a fresh, empty, isolated namespace from the backend's provisioning hook."""
    async with orcheo_backend.provision(orcheo_base_settings, tmp_path) as settings:
        yield settings


@pytest_asyncio.fixture
async def storage(
    provisioned_settings: StorageSettings, orcheo_registry: BackendRegistry
) -> AsyncIterator[Storage]:
    """An open :class:`Storage` on ``provisioned_settings``."""
    async with open_storage(provisioned_settings, registry=orcheo_registry) as opened:
        yield opened


@pytest.fixture
def provision_storage(
    orcheo_backend: StorageBackend,
    orcheo_base_settings: StorageSettings,
    orcheo_registry: BackendRegistry,
    tmp_path: Path,
) -> Callable[[], AbstractAsyncContextManager[Storage]]:
    """A factory: each ``async with provision_storage() as storage`` is a fresh namespace.

    For Hypothesis examples and state machines, which need an empty namespace each.
    """
    counter = itertools.count()

    @asynccontextmanager
    async def provision() -> AsyncIterator[Storage]:
        workdir = tmp_path / f"namespace-{next(counter)}"
        workdir.mkdir()
        async with (
            orcheo_backend.provision(orcheo_base_settings, workdir) as settings,
            open_storage(settings, registry=orcheo_registry) as opened,
        ):
            yield opened

    return provision


# --- the comparison backend (differential tests) ----------------------------------------------


@pytest.fixture
def compare_backend_name(pytestconfig: pytest.Config) -> str:
    """The second backend of the differential tests (``--orcheo-compare-backend``)."""
    name = pytestconfig.getoption("orcheo_compare_backend", default=None) or os.environ.get(
        COMPARE_ENV, "memory"
    )
    return str(name).strip().lower()


def _compare_backend(registry: BackendRegistry, name: str) -> StorageBackend:
    try:
        return registry.get(name)
    except PluginError as exc:
        raise pytest.UsageError(f"--orcheo-compare-backend: {exc}") from exc


@pytest.fixture
def compare_manifest(
    compare_backend_name: str, orcheo_registry: BackendRegistry
) -> BackendManifest:
    """The comparison backend's manifest."""
    return _compare_backend(orcheo_registry, compare_backend_name).manifest


@pytest.fixture
def provision_compare(
    compare_backend_name: str,
    orcheo_registry: BackendRegistry,
    orcheo_base_settings: StorageSettings,
    tmp_path: Path,
) -> Callable[[], AbstractAsyncContextManager[Storage]]:
    """Like ``provision_storage`` but on the comparison backend."""
    backend = _compare_backend(orcheo_registry, compare_backend_name)
    base = orcheo_base_settings.model_copy(
        update=dict.fromkeys(BACKEND_SETTINGS, compare_backend_name)
    )
    counter = itertools.count()

    @asynccontextmanager
    async def provision() -> AsyncIterator[Storage]:
        workdir = tmp_path / f"compare-{next(counter)}"
        workdir.mkdir()
        async with (
            backend.provision(base, workdir) as settings,
            open_storage(settings, registry=orcheo_registry) as opened,
        ):
            yield opened

    return provision
