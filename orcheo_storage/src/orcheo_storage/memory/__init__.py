"""The in-memory storage backend (``memory``): a real backend whose data lives in the process.

Every subsystem except LangGraph persistence; data lives as long as the session.
"""

from orcheo_storage.memory.plugin import MemoryBackend
from orcheo_storage.memory.session import MemorySession

__all__ = ["MemoryBackend", "MemorySession"]
