"""Throwaway schemas for tests and the contract suite.

Every ``provision`` call yields settings naming a schema that is fresh (a new unique
name), empty and fully migrated. Building a schema from scratch costs ~0.5-1 s of DDL
(every index build fsyncs), and dropping one ~0.3 s, which dominates property tests
that provision per example. So a released schema is emptied (``DELETE`` from every
table, sequences restarted; ~0.05 s for empty-ish test tables) and kept in a small
per-backend free list; the next call renames it to a new unique name, which is a
catalog update. Schemas beyond the free list, and those left when the process exits,
are dropped with ``DROP SCHEMA ... CASCADE``. Schemas of processes that died without
cleaning up (same host, pid gone) are dropped at the next provisioning.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import re
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import psycopg
from orcheo_storage.settings import StorageSettings
from psycopg import sql

from orcheo_storage_postgres import migrations
from orcheo_storage_postgres._db import Conn, direct_connection, q_all, q_one
from orcheo_storage_postgres._errors import translated
from orcheo_storage_postgres.schema import STEPS

PREFIX = "orcheo_t_"
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]
# Tables in creation order (parents before children), then LangGraph's, which its saver
# may have created in the schema. Looked up by name: pg_class has no index on the schema
# alone, and scanning it is slow in a database holding many test schemas.
_OWN_TABLES = tuple(
    m.group(1) for step in STEPS for m in re.finditer(r"CREATE TABLE (\w+)", step.sql)
)
_LANGGRAPH_TABLES = ("checkpoints", "checkpoint_blobs", "checkpoint_writes")
_SEQUENCES = ("listener_subscriptions_seq_seq", "service_token_audit_seq_seq")
_STALE = "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s"


def _new_name() -> str:
    return f"{PREFIX}{_HOST}_{os.getpid()}_{uuid.uuid4().hex[:12]}"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _drop(conn: Conn, schema: str) -> None:
    await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


async def empty_schema(conn: Conn, schema: str) -> None:
    """Delete every row of the backend's (and LangGraph's) tables in ``schema``; restart sequences."""
    names = [*reversed(_OWN_TABLES), *_LANGGRAPH_TABLES, *_SEQUENCES]
    row = await q_one(
        conn,
        "SELECT array_agg(n) FILTER (WHERE to_regclass(quote_ident(%s) || '.' || n) IS NOT NULL)"
        " AS present FROM unnest(%s::text[]) AS n",
        (schema, names),
    )
    present = set(row["present"] or []) if row else set()
    tables = [t for t in (*reversed(_OWN_TABLES), *_LANGGRAPH_TABLES) if t in present]
    sequences = [q for q in _SEQUENCES if q in present]
    statements = [
        *(sql.SQL("DELETE FROM {}").format(sql.Identifier(schema, t)) for t in tables),
        *(
            sql.SQL("ALTER SEQUENCE {} RESTART").format(sql.Identifier(schema, s))
            for s in sequences
        ),
    ]
    if statements:
        async with conn.transaction():
            await conn.execute(sql.SQL("; ").join(statements))


class SchemaProvisioner:
    """Hands out fresh migrated schemas and recycles released ones (see module docstring)."""

    def __init__(self, keep: int = 4) -> None:
        self._keep = keep
        self._free: dict[str, list[str]] = {}
        self._exit_hook = False

    @asynccontextmanager
    async def provision(self, settings: StorageSettings) -> AsyncIterator[StorageSettings]:
        """Yield ``settings`` pointing at a fresh, empty, migrated schema; recycle it on exit.

        Raises:
            BackendUnavailableError: the server cannot be reached.
        """
        dsn = settings.dsn()
        async with direct_connection(settings) as conn:
            with translated():
                schema = await self._acquire(conn, dsn)
        try:
            yield settings.model_copy(update={"postgres_schema": schema})
        finally:
            async with direct_connection(settings) as conn:
                with translated():
                    await self._release(conn, dsn, schema)

    async def _acquire(self, conn: Conn, dsn: str) -> str:
        free = self._free.setdefault(dsn, [])
        name = _new_name()
        while free:
            old = free.pop()
            try:
                await conn.execute(
                    sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(
                        sql.Identifier(old), sql.Identifier(name)
                    )
                )
                return name
            except psycopg.Error:
                continue  # dropped behind our back: build a new one
        await self._drop_stale(conn)
        await migrations.migrate(conn, name)
        return name

    async def _release(self, conn: Conn, dsn: str, schema: str) -> None:
        free = self._free.setdefault(dsn, [])
        if len(free) >= self._keep:
            await _drop(conn, schema)
            return
        try:
            await empty_schema(conn, schema)
        except psycopg.Error:
            await _drop(conn, schema)
            return
        free.append(schema)
        if not self._exit_hook:
            self._exit_hook = True
            atexit.register(self._drop_all)

    async def _drop_stale(self, conn: Conn) -> None:
        pattern = f"{PREFIX}{_HOST}\\_%"
        for row in await q_all(conn, _STALE, (pattern,)):
            name = str(row["nspname"])
            parts = name.removeprefix(PREFIX).split("_")
            if len(parts) == 3 and parts[1].isdigit() and not pid_alive(int(parts[1])):
                with suppress(psycopg.Error):
                    await _drop(conn, name)

    def _drop_all(self) -> None:
        """At interpreter exit: drop every schema still in the free lists."""
        for dsn, names in self._free.items():
            if not names:
                continue
            with suppress(psycopg.Error), psycopg.connect(dsn, autocommit=True) as conn:
                for name in names:
                    conn.execute(
                        sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name))
                    )
            names.clear()
