"""The SQLite agentensor store: versioned checkpoints per workflow, at most one best."""

from __future__ import annotations

import sqlite3
from typing import Any
from uuid import UUID

from orcheo_storage.clock import utcnow
from orcheo_storage.errors import CheckpointNotFoundError, DuplicateError
from orcheo_storage.jsoncodec import normalise_object
from orcheo_storage.models.agentensor import AgentensorCheckpoint
from orcheo_storage.rules import agentensor as agentensor_rules
from orcheo_storage.rules.pagination import check_limit

from orcheo_storage_sqlite.engine import Database
from orcheo_storage_sqlite.tables import CHECKPOINTS

_NEWEST = "ORDER BY config_version DESC, created_at DESC, id DESC"
_NEXT = (
    "SELECT ifnull(max(config_version), 0) + 1 FROM agentensor_checkpoints WHERE workflow_id = ?"
)
_EXISTS = "SELECT 1 FROM agentensor_checkpoints WHERE workflow_id = ? AND config_version = ?"
_CLEAR_BEST = "UPDATE agentensor_checkpoints SET is_best = 0 WHERE workflow_id = ? AND is_best = 1"
_SET_BEST = "UPDATE agentensor_checkpoints SET is_best = 1 WHERE id = ?"
_SCAN_BATCH = 200


class SqliteAgentensorStore:
    """:class:`~orcheo_storage.protocols.agentensor.AgentensorStore` on the repository file.

    Containment filters (``json_containment``) are evaluated with the core's
    :func:`~orcheo_storage.rules.agentensor.json_contains` while scanning the workflow's
    checkpoints in newest-first order, in bounded batches.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def record_checkpoint(
        self,
        *,
        workflow_id: str,
        runnable_config: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        artifact_url: str | None = None,
        is_best: bool = False,
        config_version: int | None = None,
    ) -> AgentensorCheckpoint:
        # Validate everything before taking the lock (a reject writes nothing).
        probe = agentensor_rules.new_checkpoint(
            workflow_id=workflow_id,
            config_version=config_version if config_version is not None else 1,
            now=utcnow(),
            runnable_config=runnable_config,
            metrics=metrics,
            metadata=metadata,
            artifact_url=artifact_url,
            is_best=is_best,
        )

        def job(conn: sqlite3.Connection) -> AgentensorCheckpoint:
            version = config_version
            if version is None:
                version = int(conn.execute(_NEXT, (workflow_id,)).fetchone()[0])
            elif conn.execute(_EXISTS, (workflow_id, version)).fetchone() is not None:
                raise DuplicateError("agentensor checkpoint", f"{workflow_id} v{version}")
            checkpoint = probe.model_copy(
                update={"config_version": version, "created_at": utcnow()}
            )
            if checkpoint.is_best:
                conn.execute(_CLEAR_BEST, (workflow_id,))
            CHECKPOINTS.insert_row(conn, checkpoint)
            return checkpoint

        return await self._db.write(job)

    async def get_checkpoint(self, checkpoint_id: UUID) -> AgentensorCheckpoint:
        def job(conn: sqlite3.Connection) -> AgentensorCheckpoint:
            checkpoint = CHECKPOINTS.fetch_one(conn, "id = ?", (str(checkpoint_id),))
            if checkpoint is None:
                raise CheckpointNotFoundError(checkpoint_id)
            return checkpoint

        return await self._db.read(job)

    async def list_checkpoints(
        self,
        workflow_id: str,
        *,
        limit: int = 50,
        metrics_contains: dict[str, Any] | None = None,
        metadata_contains: dict[str, Any] | None = None,
    ) -> list[AgentensorCheckpoint]:
        check_limit(limit)
        metrics_fragment = normalise_object(metrics_contains, "metrics_contains")
        metadata_fragment = normalise_object(metadata_contains, "metadata_contains")
        if not metrics_fragment and not metadata_fragment:
            return await self._db.read(
                lambda conn: CHECKPOINTS.fetch_all(
                    conn, f"WHERE workflow_id = ? {_NEWEST} LIMIT ?", (workflow_id, limit)
                )
            )

        def job(conn: sqlite3.Connection) -> list[AgentensorCheckpoint]:
            found: list[AgentensorCheckpoint] = []
            cursor = conn.execute(
                f"{CHECKPOINTS.select} WHERE workflow_id = ? {_NEWEST}", (workflow_id,)
            )
            while len(found) < limit:
                rows = cursor.fetchmany(_SCAN_BATCH)
                if not rows:
                    break
                for checkpoint in CHECKPOINTS.load_all(rows):
                    if agentensor_rules.json_contains(
                        checkpoint.metrics, metrics_fragment
                    ) and agentensor_rules.json_contains(checkpoint.metadata, metadata_fragment):
                        found.append(checkpoint)
            return found[:limit]

        return await self._db.read(job, snapshot=True)

    async def latest_checkpoint(self, workflow_id: str) -> AgentensorCheckpoint | None:
        return await self._db.read(
            lambda conn: CHECKPOINTS.fetch_one(
                conn, f"workflow_id = ? {_NEWEST} LIMIT 1", (workflow_id,)
            )
        )

    async def best_checkpoint(self, workflow_id: str) -> AgentensorCheckpoint | None:
        return await self._db.read(
            lambda conn: CHECKPOINTS.fetch_one(
                conn, "workflow_id = ? AND is_best = 1", (workflow_id,)
            )
        )

    async def mark_best(self, checkpoint_id: UUID) -> AgentensorCheckpoint:
        def job(conn: sqlite3.Connection) -> AgentensorCheckpoint:
            checkpoint = CHECKPOINTS.fetch_one(conn, "id = ?", (str(checkpoint_id),))
            if checkpoint is None:
                raise CheckpointNotFoundError(checkpoint_id)
            # Same transaction: clear the workflow's other best, then set this one.
            conn.execute(_CLEAR_BEST, (checkpoint.workflow_id,))
            conn.execute(_SET_BEST, (str(checkpoint_id),))
            return checkpoint.model_copy(update={"is_best": True})

        return await self._db.write(job)
