"""The ``sqlite`` Orcheo storage backend: embedded SQLite files, safe across processes.

The names below are imported on first access: discovery imports this package (for its
``plugin`` module) whether or not a subsystem selects ``sqlite``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orcheo_storage_sqlite.backend import SqliteBackend
    from orcheo_storage_sqlite.engine import Database
    from orcheo_storage_sqlite.session import SqliteSession

_LAZY = {
    "SqliteBackend": "orcheo_storage_sqlite.backend",
    "Database": "orcheo_storage_sqlite.engine",
    "SqliteSession": "orcheo_storage_sqlite.session",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = ["Database", "SqliteBackend", "SqliteSession"]
