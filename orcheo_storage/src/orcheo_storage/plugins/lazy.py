"""Backends that import their implementation only when a subsystem selects them.

A plugin's entry-point module should be light: it builds its
:class:`~orcheo_storage.protocols.backend.BackendManifest` from metadata and cheap probes,
and its backend imports the driver, the stores and optional integrations in ``open()`` /
``provision()`` (through :func:`import_lazily`, which reports a failed import as a broken
backend). So discovery, ``orcheo-storage backends`` and ``import orcheo_storage`` never pay
for backends that are installed but not selected.

A backend whose heavy part is missing must still be listed as broken: a backend may define
``verify_installation()``, which the host calls at discovery; :func:`verify_lazy` checks,
without executing any module, that the implementation modules can be found and that the
distribution's own requirements are installed in versions it accepts.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable
from importlib import machinery
from types import ModuleType

from orcheo_storage._manifest import BackendManifest
from orcheo_storage.errors import BackendBrokenError, PluginError

_LOADERS = (
    (machinery.ExtensionFileLoader, machinery.EXTENSION_SUFFIXES),
    (machinery.SourceFileLoader, machinery.SOURCE_SUFFIXES),
    (machinery.SourcelessFileLoader, machinery.BYTECODE_SUFFIXES),
)


def _find_top_level(name: str) -> list[str] | bool | None:
    """What ``import`` does to locate a top-level module, without loading it: its search
    locations (a package), ``None`` (a plain module) or ``False`` (not found)."""
    for finder in sys.meta_path:
        find_spec = getattr(finder, "find_spec", None)
        if find_spec is None:
            continue
        spec = find_spec(name, None)
        if spec is not None:
            locations = spec.submodule_search_locations
            return None if locations is None else list(locations)
    return False


def _find_submodule(name: str, entries: Iterable[str]) -> list[str] | bool | None:
    """Locate submodule ``name`` in its parent's search locations, as :func:`_find_top_level`.

    A file finder per location rather than ``PathFinder.find_spec``, which needs the
    parent of a namespace package to be imported (``KeyError``).
    """
    portions: list[str] = []
    for entry in entries:
        spec = machinery.FileFinder(entry, *_LOADERS).find_spec(name)
        if spec is None:
            continue
        locations = spec.submodule_search_locations
        if spec.loader is not None:  # a module, or a regular package
            return None if locations is None else list(locations)
        portions.extend(locations or ())  # a portion of a namespace package
    return portions if portions else False


def find_module(dotted: str) -> bool:
    """Whether module ``dotted`` can be found, judged without executing any module.

    Unlike :func:`importlib.util.find_spec`, a submodule's parent packages are not imported
    (``find_spec("langgraph.checkpoint.sqlite.aio")`` imports LangGraph: about 120 ms).
    """
    parts = dotted.split(".")
    path: list[str] | None = None
    for i in range(len(parts)):
        name = ".".join(parts[: i + 1])
        module = sys.modules.get(name)
        found: list[str] | bool | None
        if module is not None:
            locations = getattr(module, "__path__", None)
            found = None if locations is None else list(locations)
        else:
            try:
                found = _find_top_level(name) if i == 0 else _find_submodule(name, path or ())
            except (ImportError, ValueError, OSError):
                return False
        if found is False:
            return False
        path = found if isinstance(found, list) else None
        if i < len(parts) - 1 and path is None:  # a plain module has no submodules
            return False
    return True


def unmet_requirements(distribution: str) -> list[str]:
    """The requirements of ``distribution`` (without extras) that are not installed, or
    installed in a version it does not accept; ``[]`` when its metadata is missing."""
    from importlib_metadata import PackageNotFoundError
    from importlib_metadata import distribution as find_distribution
    from importlib_metadata import version as installed_version
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.version import InvalidVersion, Version

    try:
        lines = find_distribution(distribution).requires or []
    except PackageNotFoundError:
        return []
    unmet: list[str] = []
    for line in lines:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        try:
            found = Version(installed_version(requirement.name))
        except PackageNotFoundError:
            unmet.append(f"{requirement} (not installed)")
            continue
        except InvalidVersion:
            continue
        if not requirement.specifier.contains(found, prereleases=True):
            unmet.append(f"{requirement} ({requirement.name} {found} is installed)")
    return unmet


def verify_lazy(manifest: BackendManifest, modules: Iterable[str]) -> None:
    """Check, without importing them, that a lazy backend's implementation can be loaded.

    Raises:
        PluginError: a module is missing, or a requirement of the distribution is not met;
            the message names it and says what to install.
    """
    missing = [m for m in modules if not find_module(m)]
    if missing:
        raise PluginError(
            f"implementation module {missing[0]!r} of backend {manifest.name!r} is not "
            f"installed (reinstall {manifest.distribution})"
        )
    unmet = unmet_requirements(manifest.distribution)
    if unmet:
        raise PluginError(
            f"{manifest.distribution} {manifest.version} needs {', '.join(unmet)}; "
            f"reinstall it (pip install --force-reinstall {manifest.distribution})"
        )


def import_lazily(manifest: BackendManifest, module: str) -> ModuleType:
    """Import a backend's implementation module on first use.

    Raises:
        BackendBrokenError: the import failed (the original exception chained), reported
            exactly as a plugin whose entry point failed to import.
    """
    loaded = sys.modules.get(module)
    if loaded is not None:
        return loaded
    try:
        return importlib.import_module(module)
    except Exception as exc:
        raise BackendBrokenError(
            manifest.name,
            manifest.distribution,
            manifest.version,
            f"import of {module!r} failed: {exc!r}",
        ) from exc


__all__ = ["find_module", "import_lazily", "unmet_requirements", "verify_lazy"]
