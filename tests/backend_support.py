"""Real backends for the migration tests: settings, provisioning, opening (holds no tests).

Imported by name (``pythonpath`` in the workspace's pytest configuration; a test run as a
script has its folder on ``sys.path``).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from orcheo_storage.migration.run import open_backend
from orcheo_storage.plugins.registry import create_registry
from orcheo_storage.protocols.backend import BackendSession
from orcheo_storage.settings import BACKEND_SETTINGS, StorageSettings

DSN = os.environ.get("ORCHEO_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def base(name: str) -> StorageSettings:
    return StorageSettings(
        **dict.fromkeys(BACKEND_SETTINGS, name),
        postgres_dsn=DSN,
        vault_encryption_key="migration-test-key",
        auto_migrate=False,
    )


@asynccontextmanager
async def provisioned(name: str, workdir: Path) -> AsyncIterator[StorageSettings]:
    async with create_registry().get(name).provision(base(name), workdir) as fresh:
        yield fresh


@asynccontextmanager
async def opened(
    name: str, fresh: StorageSettings, *, schema: bool
) -> AsyncIterator[BackendSession]:
    session = await open_backend(name, fresh)
    try:
        if schema:
            await session.migrate_schema()
        yield session
    finally:
        await session.close()


EXAMPLE: dict[str, Any] = {
    "workflows": [
        {"name": "wf ü", "tags": ["a"], "graph": {"n": 1, "f": 1e30, "d": 0.5},
         "inputs": {"big": 2**80, "f": 0.1}, "steps": [{"s": i} for i in range(5)]}
        for _ in range(3)
    ],
    "metrics": {"acc": 0.5}, "cursor": {"c": "x"}, "token_details": {"d": [1, 2.5]},
    "secret": "s3cret", "chat_title": "t", "chat_metadata": {"x": "y"}, "messages": ["hi", "ho"],
}  # fmt: skip
