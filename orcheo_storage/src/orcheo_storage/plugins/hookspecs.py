"""Hook specifications of the ``orcheo_storage`` plugin project.

A backend distribution declares an entry point in the group ``orcheo.storage``::

    [project.entry-points."orcheo.storage"]
    foo = "orcheo_storage_foo.plugin"

and that module implements the hooks below with ``@hookimpl``. Hooks are always
called with keyword arguments.
"""

from __future__ import annotations

import pluggy

from orcheo_storage._manifest import StorageBackend

PROJECT_NAME = "orcheo_storage"
ENTRY_POINT_GROUP = "orcheo.storage"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def orcheo_storage_backend() -> StorageBackend:  # type: ignore[empty-body]
    """Return the backend this plugin provides.

    Called once per plugin at discovery, through the host's isolation wrapper: an
    exception here marks only this plugin as broken.

    Returns:
        An object satisfying :class:`~orcheo_storage.protocols.backend.StorageBackend`,
        whose ``manifest.name`` matches the entry-point name and whose
        ``manifest.api_version`` equals the host's ``STORAGE_API_VERSION``.
    """
