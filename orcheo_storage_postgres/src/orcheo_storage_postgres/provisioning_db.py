"""Throwaway databases: namespaces for runs without ``ORCHEO_POSTGRES_SCHEMA``.

The schema provisioner (:mod:`.provisioning`) isolates tests by schema, so every test runs
with a schema setting. To run the contract suite the way a deployment without that setting
runs (tables in the database's default schema, statements not qualified), set
``ORCHEO_TEST_POSTGRES_NAMESPACE=database``: each ``provision`` call then yields settings
naming a database of its own, migrated, with ``postgres_schema`` unset. Like schemas,
released databases are emptied and kept in a small free list (creating one and migrating
it costs a second or two); the rest, and those of dead processes, are dropped with
``DROP DATABASE ... WITH (FORCE)`` (PostgreSQL 13 or later).
"""

from __future__ import annotations

import atexit
import hashlib
import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import psycopg
from orcheo_storage.settings import StorageSettings
from psycopg import sql
from psycopg.conninfo import make_conninfo
from pydantic import SecretStr

from orcheo_storage_postgres import migrations
from orcheo_storage_postgres._db import Conn, direct_connection, q_all
from orcheo_storage_postgres._errors import translated
from orcheo_storage_postgres.provisioning import empty_schema, pid_alive

PREFIX = "orcheo_d_"
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]
_STALE = "SELECT datname FROM pg_database WHERE datname LIKE %s"


def _new_name() -> str:
    return f"{PREFIX}{_HOST}_{os.getpid()}_{uuid.uuid4().hex[:12]}"


def _drop_statement(name: str) -> sql.Composed:
    return sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))


class DatabaseProvisioner:
    """Hands out fresh migrated databases and recycles released ones (see module docstring)."""

    def __init__(self, keep: int = 4) -> None:
        self._keep = keep
        self._free: dict[str, list[str]] = {}
        self._exit_hook = False

    @asynccontextmanager
    async def provision(self, settings: StorageSettings) -> AsyncIterator[StorageSettings]:
        """Yield ``settings`` pointing at a fresh, empty, migrated database (no schema set).

        Raises:
            BackendUnavailableError: the server cannot be reached.
        """
        dsn = settings.dsn()
        free = self._free.setdefault(dsn, [])
        name = free.pop() if free else None
        if name is None:
            name = _new_name()
            async with direct_connection(settings) as conn:
                with translated():
                    await self._drop_stale(conn)
                    await conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        target = settings.model_copy(
            update={
                "postgres_dsn": SecretStr(make_conninfo(dsn, dbname=name)),
                "postgres_schema": None,
            }
        )
        async with direct_connection(target) as conn:
            with translated():
                await migrations.migrate(conn, None)
        try:
            yield target
        finally:
            await self._release(settings, target, name)

    async def _release(self, admin: StorageSettings, target: StorageSettings, name: str) -> None:
        dsn = admin.dsn()
        free = self._free.setdefault(dsn, [])
        if len(free) < self._keep:
            try:
                async with direct_connection(target) as conn:
                    await empty_schema(conn, "public")
            except Exception:  # best effort: a database that cannot be emptied is dropped
                pass
            else:
                free.append(name)
                if not self._exit_hook:
                    self._exit_hook = True
                    atexit.register(self._drop_all)
                return
        async with direct_connection(admin) as conn:
            with translated():
                await conn.execute(_drop_statement(name))

    async def _drop_stale(self, conn: Conn) -> None:
        pattern = f"{PREFIX}{_HOST}\\_%"
        for row in await q_all(conn, _STALE, (pattern,)):
            name = str(row["datname"])
            parts = name.removeprefix(PREFIX).split("_")
            if len(parts) == 3 and parts[1].isdigit() and not pid_alive(int(parts[1])):
                with suppress(psycopg.Error):
                    await conn.execute(_drop_statement(name))

    def _drop_all(self) -> None:
        """At interpreter exit: drop every database still in the free lists."""
        for dsn, names in self._free.items():
            if not names:
                continue
            with suppress(psycopg.Error), psycopg.connect(dsn, autocommit=True) as conn:
                for name in names:
                    conn.execute(_drop_statement(name))
            names.clear()
