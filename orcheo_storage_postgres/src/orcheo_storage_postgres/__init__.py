"""Orcheo storage on PostgreSQL (psycopg 3, one async connection pool per session).

The names below are imported on first access: discovery imports this package (for its
``plugin`` module) whether or not a subsystem selects ``postgres``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orcheo_storage_postgres.plugin import PostgresBackend
    from orcheo_storage_postgres.session import PostgresSession

_LAZY = {
    "PostgresBackend": "orcheo_storage_postgres.plugin",
    "PostgresSession": "orcheo_storage_postgres.session",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = ["PostgresBackend", "PostgresSession"]
