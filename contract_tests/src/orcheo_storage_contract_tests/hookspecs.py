"""pytest hooks the contract suite adds (implement them in a conftest or a ``-p`` plugin)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from orcheo_storage.plugins.registry import BackendRegistry


@pytest.hookspec
def pytest_orcheo_storage_registry(registry: BackendRegistry, config: pytest.Config) -> None:
    """Called once, after installed backends were discovered, before one is selected.

    Register backends that have no entry point (a backend under development, a test
    double) with ``registry.register_backend(plugin_module)``; they go through the same
    validation as discovered plugins.

    Args:
        registry: the registry ``--orcheo-backend`` is looked up in.
        config: the pytest config.
    """
