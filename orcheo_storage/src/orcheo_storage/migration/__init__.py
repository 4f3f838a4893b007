"""Backend-neutral migration: logical tables, export, import and verify."""
