"""The in-memory storage backend (``memory``): a real backend whose data lives in the process.

Every subsystem except LangGraph persistence; data lives as long as the session.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orcheo_storage.memory.plugin import MemoryBackend

if TYPE_CHECKING:
    from orcheo_storage.memory.session import MemorySession


def __getattr__(name: str) -> Any:
    # the stores are imported when first used: discovery imports this package
    if name == "MemorySession":
        from orcheo_storage.memory.session import MemorySession

        return MemorySession
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["MemoryBackend", "MemorySession"]
