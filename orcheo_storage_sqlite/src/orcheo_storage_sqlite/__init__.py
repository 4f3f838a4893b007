"""The ``sqlite`` Orcheo storage backend: embedded SQLite files, safe across processes."""

from orcheo_storage_sqlite.backend import SqliteBackend
from orcheo_storage_sqlite.engine import Database
from orcheo_storage_sqlite.session import SqliteSession

__all__ = ["Database", "SqliteBackend", "SqliteSession"]
