"""Agentensor checkpoints on PostgreSQL: per-workflow version counter, one best, GIN filters."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from orcheo_storage.clock import utcnow
from orcheo_storage.errors import CheckpointNotFoundError, DuplicateError
from orcheo_storage.jsoncodec import normalise_object
from orcheo_storage.models.agentensor import AgentensorCheckpoint
from orcheo_storage.rules import agentensor as rules
from orcheo_storage.rules.pagination import check_limit

from orcheo_storage_postgres._db import Db, q_one
from orcheo_storage_postgres._errors import UniqueViolation
from orcheo_storage_postgres._rows import jsonb
from orcheo_storage_postgres.stores._codecs import CHECKPOINTS

# The counter row is both the version allocator and the per-workflow lock that serialises
# "best" changes, so at most one best exists even under concurrent writers.
_NEXT_VERSION = """
INSERT INTO agentensor_counters (workflow_id, last_version) VALUES (%(wf)s, 1)
ON CONFLICT (workflow_id) DO UPDATE SET last_version = agentensor_counters.last_version + 1
RETURNING last_version
"""
_AT_LEAST = """
INSERT INTO agentensor_counters (workflow_id, last_version) VALUES (%(wf)s, %(v)s)
ON CONFLICT (workflow_id) DO UPDATE
SET last_version = greatest(agentensor_counters.last_version, excluded.last_version)
RETURNING last_version
"""
_LOCK_COUNTER = "SELECT last_version FROM agentensor_counters WHERE workflow_id = %s FOR UPDATE"
_CLEAR_BEST = (
    "UPDATE agentensor_checkpoints SET is_best = FALSE "
    "WHERE workflow_id = %s AND is_best AND id <> %s"
)
_SET_BEST = "UPDATE agentensor_checkpoints SET is_best = TRUE WHERE id = %s"
_GET = CHECKPOINTS.select("id = %(id)s")
_ORDER = "ORDER BY config_version DESC, created_at DESC, id DESC LIMIT %(n)s"
_LIST = CHECKPOINTS.select("workflow_id = %(wf)s", _ORDER)
_LIST_FILTERED = CHECKPOINTS.select(
    "workflow_id = %(wf)s AND metrics @> %(metrics)s AND metadata @> %(metadata)s", _ORDER
)
_BEST = CHECKPOINTS.select("workflow_id = %(wf)s AND is_best")


class PostgresAgentensorStore:
    """:class:`~orcheo_storage.protocols.agentensor.AgentensorStore` on PostgreSQL."""

    def __init__(self, db: Db) -> None:
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
        draft = rules.new_checkpoint(
            workflow_id=workflow_id,
            config_version=1 if config_version is None else config_version,
            now=utcnow(),
            runnable_config=runnable_config,
            metrics=metrics,
            metadata=metadata,
            artifact_url=artifact_url,
            is_best=is_best,
        )
        try:
            async with self._db.transaction() as conn:
                if config_version is None:
                    row = await q_one(conn, _NEXT_VERSION, {"wf": workflow_id})
                    assert row is not None
                    draft = draft.model_copy(update={"config_version": int(row["last_version"])})
                else:
                    await conn.execute(_AT_LEAST, {"wf": workflow_id, "v": config_version})
                if is_best:
                    await conn.execute(_CLEAR_BEST, (workflow_id, draft.id))
                await conn.execute(CHECKPOINTS.insert_sql, CHECKPOINTS.params(draft))
        except UniqueViolation:
            raise DuplicateError(
                "agentensor checkpoint", f"{workflow_id} v{draft.config_version}"
            ) from None
        return draft

    async def get_checkpoint(self, checkpoint_id: UUID) -> AgentensorCheckpoint:
        row = await self._db.read_one(_GET, {"id": checkpoint_id})
        if row is None:
            raise CheckpointNotFoundError(checkpoint_id)
        return CHECKPOINTS.load(row)

    async def list_checkpoints(
        self,
        workflow_id: str,
        *,
        limit: int = 50,
        metrics_contains: dict[str, Any] | None = None,
        metadata_contains: dict[str, Any] | None = None,
    ) -> list[AgentensorCheckpoint]:
        check_limit(limit)
        # The core's rule, as the other backends: a filter is a JSON object (or None).
        metrics = normalise_object(metrics_contains, "metrics_contains")
        metadata = normalise_object(metadata_contains, "metadata_contains")
        params: dict[str, Any] = {"wf": workflow_id, "n": limit}
        query = _LIST
        if metrics or metadata:
            query = _LIST_FILTERED
            params.update(metrics=jsonb(metrics), metadata=jsonb(metadata))
        return [CHECKPOINTS.load(r) for r in await self._db.read_all(query, params)]

    async def latest_checkpoint(self, workflow_id: str) -> AgentensorCheckpoint | None:
        found = await self.list_checkpoints(workflow_id, limit=1)
        return found[0] if found else None

    async def best_checkpoint(self, workflow_id: str) -> AgentensorCheckpoint | None:
        row = await self._db.read_one(_BEST, {"wf": workflow_id})
        return None if row is None else CHECKPOINTS.load(row)

    async def mark_best(self, checkpoint_id: UUID) -> AgentensorCheckpoint:
        async with self._db.transaction() as conn:
            row = await q_one(conn, _GET, {"id": checkpoint_id})
            if row is None:
                raise CheckpointNotFoundError(checkpoint_id)
            checkpoint = CHECKPOINTS.load(row)
            await conn.execute(_LOCK_COUNTER, (checkpoint.workflow_id,))
            await conn.execute(_CLEAR_BEST, (checkpoint.workflow_id, checkpoint_id))
            await conn.execute(_SET_BEST, (checkpoint_id,))
        return checkpoint.model_copy(update={"is_best": True})
