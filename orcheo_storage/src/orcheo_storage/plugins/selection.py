"""Selecting the backends the settings name, with errors that say which setting to change."""

from __future__ import annotations

from orcheo_storage.errors import BackendNotInstalledError, DefaultBackendNotInstalledError
from orcheo_storage.plugins.registry import BackendRegistry
from orcheo_storage.protocols.backend import StorageBackend
from orcheo_storage.settings import StorageSettings


def select_backend(
    registry: BackendRegistry, settings: StorageSettings, name: str
) -> StorageBackend:
    """``registry.get(name)``, for a backend that ``settings`` select.

    Raises:
        DefaultBackendNotInstalledError: ``name`` is not installed and some subsystems
            select it only by default (their ``ORCHEO_*_BACKEND`` variable is not set);
            the message names those variables and the installed backends.
        BackendNotInstalledError, UnknownBackendError, BackendBrokenError: as
            :meth:`BackendRegistry.get`.
    """
    try:
        return registry.get(name)
    except BackendNotInstalledError as exc:
        unset = settings.defaulted_backend_variables(name)
        if not unset:
            raise
        raise DefaultBackendNotInstalledError(
            name, exc.distribution, unset, registry.names()
        ) from None
