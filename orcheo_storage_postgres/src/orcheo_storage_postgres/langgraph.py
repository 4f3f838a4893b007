"""LangGraph's own PostgreSQL checkpointer on this backend's DSN and pool settings."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from orcheo_storage.errors import UnsupportedError
from orcheo_storage.settings import StorageSettings
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from orcheo_storage_postgres._errors import translated

INSTALL_HINT = "pip install 'orcheo-storage-postgres[langgraph]'"


def _saver_class() -> Any:
    try:
        module = importlib.import_module("langgraph.checkpoint.postgres.aio")
    except ImportError as exc:
        raise UnsupportedError(
            "the LangGraph checkpointer needs langgraph-checkpoint-postgres; "
            f"install it with: {INSTALL_HINT}"
        ) from exc
    return module.AsyncPostgresSaver


@asynccontextmanager
async def checkpointer(settings: StorageSettings) -> AsyncIterator[Any]:
    """Yield a set-up ``AsyncPostgresSaver`` on its own pool sized like the storage pool.

    LangGraph's saver needs autocommit, dict rows and its own JSON handling, so it gets a
    pool of its own (same DSN, schema and sizes) rather than connections configured with
    the storage JSON codec.

    Raises:
        UnsupportedError: the ``langgraph`` extra is not installed.
        BackendUnavailableError: the server cannot be reached.
    """
    saver_cls = _saver_class()
    options = "-c timezone=UTC"
    if settings.postgres_schema:
        options += f" -c search_path={settings.postgres_schema}"
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        settings.dsn(),
        kwargs={
            "autocommit": True,
            "row_factory": dict_row,
            "prepare_threshold": settings.postgres_prepare_threshold,
            "options": options,
        },
        min_size=settings.postgres_pool_min_size,
        max_size=settings.postgres_pool_max_size,
        timeout=settings.postgres_pool_timeout,
        max_idle=settings.postgres_pool_max_idle,
        max_waiting=settings.postgres_pool_max_waiting,
        check=AsyncConnectionPool.check_connection,
        open=False,
        name="orcheo-langgraph",
    )
    with translated():
        await pool.open(wait=True, timeout=settings.postgres_pool_timeout)
    try:
        saver = saver_cls(pool)
        with translated():
            await saver.setup()
        yield saver
    finally:
        await pool.close()
