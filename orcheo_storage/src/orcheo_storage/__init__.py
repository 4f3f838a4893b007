"""Orcheo storage core: the contract of the storage subsystems and the backend plugin host.

Open storage with :func:`open_storage`; backends are discovered from the
``orcheo.storage`` entry-point group.

Importing this package is cheap: the names below are imported from their modules on first
access (module ``__getattr__``), so ``import orcheo_storage`` builds no pydantic model and
imports no backend. Type checkers see the real imports.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orcheo_storage._manifest import STORAGE_API_VERSION, Capability, Subsystem
    from orcheo_storage.errors import (
        ConfigurationError,
        NotFoundError,
        StorageError,
        ValidationError,
    )
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

_LAZY: dict[str, str] = {
    "STORAGE_API_VERSION": "orcheo_storage._manifest",
    "Capability": "orcheo_storage._manifest",
    "Subsystem": "orcheo_storage._manifest",
    "ConfigurationError": "orcheo_storage.errors",
    "NotFoundError": "orcheo_storage.errors",
    "StorageError": "orcheo_storage.errors",
    "ValidationError": "orcheo_storage.errors",
    "StorageSettings": "orcheo_storage.settings",
    "load_settings": "orcheo_storage.settings",
    "Storage": "orcheo_storage.storage",
    "create_agentensor_store": "orcheo_storage.storage",
    "create_chatkit_store": "orcheo_storage.storage",
    "create_history_store": "orcheo_storage.storage",
    "create_listener_store": "orcheo_storage.storage",
    "create_remediation_store": "orcheo_storage.storage",
    "create_repository": "orcheo_storage.storage",
    "create_service_token_store": "orcheo_storage.storage",
    "create_trigger_store": "orcheo_storage.storage",
    "create_vault": "orcheo_storage.storage",
    "open_storage": "orcheo_storage.storage",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # later lookups do not come back here
        return value
    if name == "__version__":
        from importlib.metadata import version

        return version("orcheo-storage")
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        # ``import orcheo_storage; orcheo_storage.errors.X`` kept working when this package
        # imported its submodules eagerly; it still does.
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, "__version__"})


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
