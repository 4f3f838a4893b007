"""The installed distributions of Orcheo storage, read from package metadata alone.

Used by ``orcheo-storage --version``: nothing is imported or loaded, so the answer is
quick and also lists a backend that is installed but broken.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from importlib_metadata import distributions

from orcheo_storage.plugins.hookspecs import ENTRY_POINT_GROUP

CORE = "orcheo-storage"


@dataclass(frozen=True)
class StorageDistribution:
    """One installed distribution and the backend names its entry points declare."""

    name: str
    version: str
    backends: tuple[str, ...] = field(default=())

    def describe(self) -> str:
        """``name version`` plus the backends it declares, e.g.
        ``orcheo-storage-postgres 0.1.0 (backends: postgres)``."""
        suffix = f" (backends: {', '.join(self.backends)})" if self.backends else ""
        return f"{self.name} {self.version}{suffix}"


def normalise(name: str) -> str:
    """A distribution name in its canonical form (PEP 503): ``Orcheo_Storage`` -> ``orcheo-storage``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def storage_distributions() -> list[StorageDistribution]:
    """The core first, then every other ``orcheo-storage*`` distribution and every
    distribution declaring an ``orcheo.storage`` entry point, by name.

    A distribution found twice on ``sys.path`` is listed once (the first, as Python imports).
    """
    found: dict[str, StorageDistribution] = {}
    for dist in distributions():
        raw_name = dist.metadata.get("Name")
        if not raw_name:
            continue
        name = normalise(raw_name)
        backends = tuple(
            sorted(ep.name for ep in dist.entry_points if ep.group == ENTRY_POINT_GROUP)
        )
        if name in found or not (backends or name == CORE or name.startswith(f"{CORE}-")):
            continue
        found[name] = StorageDistribution(name, dist.version, backends)
    return sorted(found.values(), key=lambda d: (d.name != CORE, d.name))
