"""Discovery and selection of backend plugins.

The registry is built by :func:`create_registry`; nothing is registered at import time.
Each entry point is loaded and validated in isolation (a distribution whose requirement on
the core excludes the installed core is not even imported): a failure is recorded as a
:class:`LoadFailure` and only becomes an error when that backend is selected (or
immediately, in strict mode).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import pluggy
from importlib_metadata import EntryPoint, entry_points

from orcheo_storage._manifest import STORAGE_API_VERSION, BackendManifest, StorageBackend
from orcheo_storage.errors import (
    ApiVersionMismatchError,
    BackendBrokenError,
    BackendNotInstalledError,
    PluginError,
    UnknownBackendError,
)
from orcheo_storage.plugins import hookspecs
from orcheo_storage.plugins.compat import core_mismatch
from orcheo_storage.plugins.known import KNOWN_BACKENDS


@dataclass(frozen=True)
class LoadFailure:
    """A plugin that could not be used, and why."""

    name: str
    distribution: str | None
    version: str | None
    reason: str
    error: BaseException


@dataclass
class BackendRegistry:
    """The backends available to this process."""

    strict: bool = False
    _manager: pluggy.PluginManager = field(default_factory=lambda: _new_manager())
    _backends: dict[str, StorageBackend] = field(default_factory=dict)
    _failures: dict[str, LoadFailure] = field(default_factory=dict)

    # --- registration ----------------------------------------------------------------------

    def discover(self, group: str = hookspecs.ENTRY_POINT_GROUP) -> None:
        """Load every entry point of ``group``, each in isolation.

        Raises:
            PluginError: in strict mode, for the first plugin that fails.
        """
        for ep in sorted(entry_points(group=group), key=lambda e: e.name):
            dist = ep.dist
            dist_name = dist.name if dist is not None else None
            dist_version = dist.version if dist is not None else None
            mismatch = core_mismatch(dist)
            if mismatch is not None:  # not imported: it was built for another core
                self._fail(ep.name, dist_name, dist_version, mismatch, PluginError(mismatch))
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                self._fail(
                    ep.name, dist_name, dist_version, f"import of {ep.value!r} failed: {exc!r}", exc
                )
                continue
            self._register(ep.name, plugin, dist_name, dist_version, ep)

    def register_backend(self, plugin: object, *, name: str | None = None) -> StorageBackend:
        """Register a plugin object or module programmatically, with the same validation.

        Raises:
            PluginError: the plugin does not implement the hooks or fails validation.
        """
        key = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        backend = self._register(key, plugin, None, None, None)
        if backend is None:
            failure = self._failures[key]
            raise _broken(failure) from failure.error
        return backend

    def _register(
        self,
        name: str,
        plugin: object,
        dist: str | None,
        version: str | None,
        ep: EntryPoint | None,
    ) -> StorageBackend | None:
        try:
            backend = self._load_backend(name, plugin, check_name=ep is not None)
        except Exception as exc:
            self._fail(
                name, dist, version, str(exc) if isinstance(exc, PluginError) else repr(exc), exc
            )
            return None
        self._backends[backend.manifest.name] = backend
        self._failures.pop(backend.manifest.name, None)
        return backend

    def _load_backend(self, name: str, plugin: object, check_name: bool) -> StorageBackend:
        manager = _new_manager()
        manager.register(plugin, name=f"orcheo-storage-{name}")
        manager.check_pending()
        impls = manager.hook.orcheo_storage_backend.get_hookimpls()
        if not impls:
            raise PluginError(f"plugin {name!r} implements no orcheo_storage_backend hook")
        backend = impls[0].function()
        manifest = getattr(backend, "manifest", None)
        if not isinstance(manifest, BackendManifest):
            raise PluginError(
                f"plugin {name!r} returned {type(backend).__name__} without a BackendManifest"
            )
        if manifest.api_version != STORAGE_API_VERSION:
            raise ApiVersionMismatchError(
                f"plugin {name!r} implements storage API version {manifest.api_version}, "
                f"this host supports version {STORAGE_API_VERSION}"
            )
        if not isinstance(backend, StorageBackend):
            raise PluginError(f"plugin {name!r} backend lacks open() or provision()")
        if check_name and manifest.name != name:
            raise PluginError(
                f"entry point {name!r} provides a backend named {manifest.name!r}; the names must match"
            )
        # A backend importing its implementation on first use (plugins.lazy) checks here,
        # without importing it, that it could: a broken install is still listed as broken.
        verify = getattr(backend, "verify_installation", None)
        if callable(verify):
            verify()
        existing = self._backends.get(manifest.name)
        if existing is not None:
            # Two plugins claiming one name: keep the first, report the second clearly
            # (pluggy would otherwise refuse it with its own internal message).
            taken_by = f"{existing.manifest.distribution} {existing.manifest.version}"
            raise PluginError(f"backend name {manifest.name!r} is already taken by {taken_by}")
        self._manager.register(plugin, name=f"orcheo-storage-{manifest.name}")
        return backend

    def _fail(
        self, name: str, dist: str | None, version: str | None, reason: str, exc: BaseException
    ) -> None:
        failure = LoadFailure(name, dist, version, reason, exc)
        self._failures[name] = failure
        if self.strict:
            raise _broken(failure) from exc

    # --- queries -----------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Names of the backends that loaded."""
        return sorted(self._backends)

    def manifests(self) -> list[BackendManifest]:
        return [self._backends[n].manifest for n in self.names()]

    def failures(self) -> list[LoadFailure]:
        return [self._failures[n] for n in sorted(self._failures)]

    def get(self, name: str) -> StorageBackend:
        """The backend called ``name``.

        Raises:
            BackendBrokenError: installed but failed to load (original error chained).
            BackendNotInstalledError: a known backend whose distribution is missing.
            UnknownBackendError: anything else, with installed names and a suggestion.
        """
        if name in self._backends:
            return self._backends[name]
        if name in self._failures:
            failure = self._failures[name]
            raise _broken(failure) from failure.error
        if name in KNOWN_BACKENDS:
            raise BackendNotInstalledError(name, KNOWN_BACKENDS[name])
        candidates = sorted(set(self._backends) | set(self._failures) | set(KNOWN_BACKENDS))
        match = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
        raise UnknownBackendError(name, self.names(), match[0] if match else None)

    def describe(self) -> list[dict[str, Any]]:
        """Rows for ``orcheo-storage backends``: loaded and failed plugins alike."""
        rows: list[dict[str, Any]] = []
        for manifest in self.manifests():
            rows.append(
                {
                    "name": manifest.name,
                    "distribution": manifest.distribution,
                    "version": manifest.version,
                    "api_version": manifest.api_version,
                    "subsystems": sorted(s.value for s in manifest.subsystems),
                    "capabilities": sorted(c.value for c in manifest.capabilities),
                    "status": "ok",
                    "error": None,
                }
            )
        for failure in self.failures():
            rows.append(
                {
                    "name": failure.name,
                    "distribution": failure.distribution,
                    "version": failure.version,
                    "api_version": None,
                    "subsystems": [],
                    "capabilities": [],
                    "status": "broken",
                    "error": failure.reason,
                }
            )
        return sorted(rows, key=lambda r: r["name"])


def _new_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    return manager


def _broken(failure: LoadFailure) -> BackendBrokenError:
    return BackendBrokenError(failure.name, failure.distribution, failure.version, failure.reason)


def create_registry(*, strict: bool = False, discover: bool = True) -> BackendRegistry:
    """Build a registry and (by default) discover installed plugins.

    Args:
        strict: make any broken plugin fatal (for CI).
        discover: load the ``orcheo.storage`` entry points.

    Raises:
        PluginError: in strict mode, when any plugin fails to load.
    """
    registry = BackendRegistry(strict=strict)
    if discover:
        registry.discover()
    return registry
