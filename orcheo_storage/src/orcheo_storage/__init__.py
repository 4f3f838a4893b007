"""Orcheo storage core: the contract of the storage subsystems and the backend plugin host.

Open storage with :func:`open_storage`; backends are discovered from the
``orcheo.storage`` entry-point group.
"""

from __future__ import annotations

from typing import Any

from orcheo_storage.errors import ConfigurationError, NotFoundError, StorageError, ValidationError
from orcheo_storage.protocols.backend import STORAGE_API_VERSION, Capability, Subsystem
from orcheo_storage.settings import StorageSettings, load_settings
from orcheo_storage.storage import (
    Storage,
    create_agentensor_store,
    create_chatkit_store,
    create_history_store,
    create_listener_store,
    create_remediation_store,
    create_repository,
    create_service_token_store,
    create_trigger_store,
    create_vault,
    open_storage,
)


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("orcheo-storage")
    raise AttributeError(name)


__all__ = [
    "STORAGE_API_VERSION",
    "Capability",
    "ConfigurationError",
    "NotFoundError",
    "Storage",
    "StorageError",
    "StorageSettings",
    "Subsystem",
    "ValidationError",
    "create_agentensor_store",
    "create_chatkit_store",
    "create_history_store",
    "create_listener_store",
    "create_remediation_store",
    "create_repository",
    "create_service_token_store",
    "create_trigger_store",
    "create_vault",
    "load_settings",
    "open_storage",
]
