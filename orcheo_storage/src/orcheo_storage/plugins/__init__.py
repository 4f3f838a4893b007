"""The plugin host: hook specifications, discovery and the backend registry."""

from orcheo_storage.plugins.hookspecs import hookimpl
from orcheo_storage.plugins.registry import (
    BackendRegistry,
    LoadFailure,
    create_registry,
)

__all__ = ["BackendRegistry", "LoadFailure", "create_registry", "hookimpl"]
