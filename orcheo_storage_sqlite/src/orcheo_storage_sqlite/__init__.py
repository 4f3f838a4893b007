"""Orcheo storage backend package (filled by its issue)."""
