"""Applying the schema steps of :mod:`orcheo_storage_postgres.schema`.

Everything happens in one transaction holding a transaction-level advisory lock keyed
on the schema name, so several processes starting at once apply each step exactly once
(DDL is transactional in PostgreSQL: a failed step leaves nothing behind).
"""

from __future__ import annotations

from orcheo_storage.errors import ConfigurationError
from orcheo_storage.protocols.backend import SchemaStatus
from psycopg import sql

from orcheo_storage_postgres._db import Conn, q_all, q_one
from orcheo_storage_postgres.schema import LATEST, STEPS

VERSION_TABLE = "orcheo_schema_migrations"
_LOCK = "SELECT pg_advisory_xact_lock(hashtext(%s))"
_CREATE_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS orcheo_schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""
_APPLIED = "SELECT version, name, checksum FROM orcheo_schema_migrations ORDER BY version"
_RECORD = "INSERT INTO orcheo_schema_migrations (version, name, checksum) VALUES (%s, %s, %s)"
_TABLE_EXISTS = "SELECT to_regclass(%s) IS NOT NULL AS present"


async def _select_schema(conn: Conn, schema: str | None) -> None:
    if schema is None:
        return
    await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    await conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)))


async def applied_versions(conn: Conn, schema: str | None) -> list[int]:
    """Versions applied in ``schema`` (``[]`` when the version table does not exist)."""
    table = f"{schema}.{VERSION_TABLE}" if schema else VERSION_TABLE
    row = await q_one(conn, _TABLE_EXISTS, (table,))
    if not row or not row["present"]:
        return []
    rows = await q_all(
        conn,
        sql.SQL("SELECT version FROM {} ORDER BY version").format(
            sql.Identifier(schema, VERSION_TABLE) if schema else sql.Identifier(VERSION_TABLE)
        ),
    )
    return [int(r["version"]) for r in rows]


async def status(conn: Conn, schema: str | None) -> SchemaStatus:
    """Current and latest version plus the names of pending steps."""
    done = set(await applied_versions(conn, schema))
    return SchemaStatus(
        current=max(done, default=0),
        latest=LATEST,
        pending=[s.name for s in STEPS if s.version not in done],
    )


async def migrate(conn: Conn, schema: str | None, *, dry_run: bool = False) -> list[str]:
    """Apply (or, with ``dry_run``, only list) the pending steps; returns their names.

    Raises:
        ConfigurationError: the database holds a step whose checksum differs from this
            release's (an edited past step) or a version this release does not know.
    """
    if dry_run:
        return (await status(conn, schema)).pending
    applied: list[str] = []
    async with conn.transaction():
        await conn.execute(_LOCK, (f"orcheo_storage:{schema or 'public'}",))
        await _select_schema(conn, schema)
        await conn.execute(_CREATE_VERSION_TABLE)
        rows = await q_all(conn, _APPLIED)
        known = {s.version: s for s in STEPS}
        done: set[int] = set()
        for row in rows:
            step = known.get(int(row["version"]))
            if step is None:
                raise ConfigurationError(
                    f"database schema version {row['version']} is newer than this release "
                    f"knows ({LATEST}); upgrade orcheo-storage-postgres"
                )
            if step.checksum != row["checksum"]:
                raise ConfigurationError(
                    f"schema step {step.version} ({step.name}) differs from the applied one"
                )
            done.add(step.version)
        for step in STEPS:
            if step.version in done:
                continue
            await conn.execute(step.sql.encode("utf-8"))
            await conn.execute(_RECORD, (step.version, step.name, step.checksum))
            applied.append(step.name)
    return applied
