"""Applying the schema steps of :mod:`orcheo_storage_sqlite.schema`.

Steps are applied inside one ``BEGIN IMMEDIATE`` transaction on the writer connection,
so two processes starting at once serialise on SQLite's write lock: the second finds
the steps already recorded and applies nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence

from orcheo_storage.clock import utcnow
from orcheo_storage.errors import ConfigurationError

from orcheo_storage_sqlite.codec import ts
from orcheo_storage_sqlite.engine import Database
from orcheo_storage_sqlite.schema import Step

VERSION_TABLE = """CREATE TABLE IF NOT EXISTS orcheo_schema_migrations (
    component TEXT NOT NULL,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at INTEGER NOT NULL,
    PRIMARY KEY (component, version)
)"""

_APPLIED = "SELECT version, checksum FROM orcheo_schema_migrations WHERE component = ?"
_RECORD = """INSERT INTO orcheo_schema_migrations (component, version, name, checksum, applied_at)
VALUES (?, ?, ?, ?, ?)"""
_HAS_TABLE = (
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'orcheo_schema_migrations'"
)


def step_label(component: str, step: Step) -> str:
    return f"{component}:{step.version:04d} {step.name}"


def _applied(conn: sqlite3.Connection, component: str) -> dict[int, str]:
    if conn.execute(_HAS_TABLE).fetchone() is None:
        return {}
    return {v: c for v, c in conn.execute(_APPLIED, (component,)).fetchall()}


def _pending(component: str, steps: Sequence[Step], applied: dict[int, str]) -> list[Step]:
    for step in steps:
        recorded = applied.get(step.version)
        if recorded is not None and recorded != step.checksum:
            raise ConfigurationError(
                f"schema step {step_label(component, step)!r} differs from the one applied to "
                "this database (steps are append-only; was a shipped step edited?)"
            )
    newer = set(applied) - {s.version for s in steps}
    if newer:
        raise ConfigurationError(
            f"the {component} schema of this database is newer (steps {sorted(newer)}) than "
            "this version of orcheo-storage-sqlite knows: upgrade the package"
        )
    return [s for s in steps if s.version not in applied]


async def plan(db: Database, components: Mapping[str, Sequence[Step]]) -> list[str]:
    """Labels of the steps not yet applied to ``db`` (nothing is changed)."""

    def job(conn: sqlite3.Connection) -> list[str]:
        labels: list[str] = []
        for component, steps in components.items():
            for step in _pending(component, steps, _applied(conn, component)):
                labels.append(step_label(component, step))
        return labels

    return await db.read(job, snapshot=True)


async def current_versions(
    db: Database, components: Mapping[str, Sequence[Step]]
) -> dict[str, int]:
    """The highest applied step per component (0 when none)."""

    def job(conn: sqlite3.Connection) -> dict[str, int]:
        return {c: max(_applied(conn, c), default=0) for c in components}

    return await db.read(job, snapshot=True)


async def apply(db: Database, components: Mapping[str, Sequence[Step]]) -> list[str]:
    """Apply pending steps under the write lock; returns their labels.

    Raises:
        ConfigurationError: an applied step was edited, or the database is newer.
    """

    def job(conn: sqlite3.Connection) -> list[str]:
        conn.execute(VERSION_TABLE)
        done: list[str] = []
        now = ts(utcnow())
        for component, steps in components.items():
            for step in _pending(component, steps, _applied(conn, component)):
                for statement in step.statements:
                    conn.execute(statement)
                conn.execute(_RECORD, (component, step.version, step.name, step.checksum, now))
                done.append(step_label(component, step))
        return done

    return await db.write(job)
