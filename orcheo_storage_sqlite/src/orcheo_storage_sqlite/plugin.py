"""Entry point of the ``sqlite`` backend (``[project.entry-points."orcheo.storage"]``)."""

from __future__ import annotations

from orcheo_storage.plugins.hookspecs import hookimpl

from orcheo_storage_sqlite.backend import SqliteBackend


@hookimpl
def orcheo_storage_backend() -> SqliteBackend:
    """Return a new :class:`SqliteBackend` (no state is kept at import time)."""
    return SqliteBackend()
