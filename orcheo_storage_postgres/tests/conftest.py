"""Fixtures: a real PostgreSQL server and a fresh schema per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from orcheo_storage.settings import StorageSettings
from orcheo_storage_postgres.plugin import PostgresBackend
from orcheo_storage_postgres.session import PostgresSession


def make_settings(dsn: str, **overrides: object) -> StorageSettings:
    values: dict[str, object] = {
        "repository_backend": "postgres",
        "checkpoint_backend": "postgres",
        "chatkit_backend": "postgres",
        "vault_backend": "postgres",
        "auth_service_token_backend": "postgres",
        "postgres_dsn": dsn,
        "postgres_pool_min_size": 1,
        "postgres_pool_max_size": 8,
        "postgres_pool_timeout": 5.0,
        "vault_encryption_key": "test-key-not-secret",
    }
    values.update(overrides)
    return StorageSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def pg_settings(pg_dsn: str, tmp_path: Path) -> AsyncIterator[StorageSettings]:
    async with PostgresBackend().provision(make_settings(pg_dsn), tmp_path) as settings:
        yield settings


@pytest.fixture
async def session(pg_settings: StorageSettings) -> AsyncIterator[PostgresSession]:
    opened = await PostgresSession.open(pg_settings)
    try:
        yield opened
    finally:
        await opened.close()
