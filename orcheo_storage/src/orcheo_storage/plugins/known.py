"""Backends the host knows about even when they are not installed (for install hints)."""

from __future__ import annotations

KNOWN_BACKENDS: dict[str, str] = {
    "memory": "orcheo-storage",
    "sqlite": "orcheo-storage-sqlite",
    "postgres": "orcheo-storage-postgres",
}
