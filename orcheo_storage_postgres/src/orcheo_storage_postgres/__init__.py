"""Orcheo storage on PostgreSQL (psycopg 3, one async connection pool per session)."""

from orcheo_storage_postgres.plugin import PostgresBackend
from orcheo_storage_postgres.session import PostgresSession

__all__ = ["PostgresBackend", "PostgresSession"]
