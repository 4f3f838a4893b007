"""Reading the SQLite files today's Orcheo writes (read-only) as a migration source."""

from orcheo_storage.migration.legacy.paths import LegacyPaths
from orcheo_storage.migration.legacy.source import LegacySource

__all__ = ["LegacyPaths", "LegacySource"]
