"""LangGraph's own PostgreSQL checkpointer on this backend's DSN and pool settings."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from orcheo_storage.errors import UnsupportedError
from orcheo_storage.settings import StorageSettings
from psycopg_pool import AsyncConnectionPool

from orcheo_storage_postgres._conninfo import checked_dsn
from orcheo_storage_postgres._db import configurer, connection_kwargs
from orcheo_storage_postgres._errors import translated

INSTALL_HINT = "pip install 'orcheo-storage-postgres[langgraph]'"
LANGGRAPH_TABLES = frozenset(
    {"checkpoints", "checkpoint_blobs", "checkpoint_writes", "checkpoint_migrations"}
)
"""LangGraph's own tables: its SQL is qualified with the schema like ours."""


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
    pool of its own (same DSN, schema and sizes). Its statements name the schema like the
    backend's own (:mod:`._qualify`, with LangGraph's table names), so the schema setting
    works behind PgBouncer here too.

    Raises:
        UnsupportedError: the ``langgraph`` extra is not installed.
        BackendUnavailableError: the server cannot be reached.
    """
    saver_cls = _saver_class()
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        checked_dsn(settings),
        kwargs=connection_kwargs(settings),
        min_size=settings.postgres_pool_min_size,
        max_size=settings.postgres_pool_max_size,
        timeout=settings.postgres_pool_timeout,
        max_idle=settings.postgres_pool_max_idle,
        max_waiting=settings.postgres_pool_max_waiting,
        check=AsyncConnectionPool.check_connection,
        configure=configurer(settings.postgres_schema, LANGGRAPH_TABLES, core_json=False),
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
