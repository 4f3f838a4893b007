"""Fixtures of the SQLite backend tests: real files in a temporary folder."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from orcheo_storage.settings import StorageSettings
from orcheo_storage_sqlite.session import SqliteSession


def sqlite_settings(folder: Path, **overrides: object) -> StorageSettings:
    """Settings with every SQLite file inside ``folder``."""
    values: dict[str, object] = {
        "repository_sqlite_path": folder / "workflows.sqlite",
        "chatkit_sqlite_path": folder / "chatkit.sqlite",
        "vault_local_path": folder / "vault.sqlite",
        "auth_service_token_db_path": folder / "service_tokens.sqlite",
        "vault_encryption_key": "test-key-not-a-secret",
    }
    values.update(overrides)
    return StorageSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def make_settings() -> Callable[..., StorageSettings]:
    """:func:`sqlite_settings`, as a fixture (test modules import nothing from here)."""
    return sqlite_settings


@pytest.fixture
def settings(tmp_path: Path) -> StorageSettings:
    return sqlite_settings(tmp_path)


@pytest.fixture
async def session(settings: StorageSettings) -> AsyncIterator[SqliteSession]:
    opened = await SqliteSession.open(settings)
    try:
        yield opened
    finally:
        await opened.close()
