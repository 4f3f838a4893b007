"""Does a plugin's distribution fit the installed core? Read from package metadata.

pip refuses an incompatible core and backend when it resolves them together, but
``pip install -U orcheo-storage`` alone upgrades the core past an installed backend's
range with only a warning. The host therefore checks each plugin distribution's own
requirement on the core before importing it, and reports a mismatch as a broken plugin.
"""

from __future__ import annotations

from importlib_metadata import Distribution, PackageNotFoundError, version
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

CORE = "orcheo-storage"


def core_mismatch(dist: Distribution | None) -> str | None:
    """Why ``dist`` does not fit the installed core, or ``None`` when it does (or when
    either side's metadata is missing or unreadable, which is left to the import)."""
    if dist is None:
        return None
    try:
        core = Version(version(CORE))
    except (PackageNotFoundError, InvalidVersion):
        return None
    for line in dist.requires or []:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if canonicalize_name(requirement.name) != CORE:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        if not requirement.specifier.contains(core, prereleases=True):
            name = dist.metadata.get("Name") or "the plugin"
            wanted = f"{CORE}{requirement.specifier}"
            return (
                f"{name} {dist.version} requires {wanted}, but {CORE} {core} is installed; "
                f"install versions that fit together (pip install '{wanted}', or a release "
                f"of {name} made for {CORE} {core})"
            )
    return None
