"""In-memory agentensor checkpoints: versioned per workflow, at most one best."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from orcheo_storage.clock import utcnow
from orcheo_storage.errors import CheckpointNotFoundError, DuplicateError
from orcheo_storage.jsoncodec import normalise_object
from orcheo_storage.memory._lifecycle import refuses_when_closed
from orcheo_storage.memory._state import MemoryState, copy
from orcheo_storage.models.agentensor import AgentensorCheckpoint
from orcheo_storage.rules import agentensor as agentensor_rules
from orcheo_storage.rules.pagination import check_limit


@refuses_when_closed
class MemoryAgentensorStore:
    """:class:`~orcheo_storage.protocols.agentensor.AgentensorStore` over a session's state."""

    def __init__(self, state: MemoryState) -> None:
        self._state = state

    def _of(self, workflow_id: str) -> list[AgentensorCheckpoint]:
        found = [c for c in self._state.checkpoints.values() if c.workflow_id == workflow_id]
        found.sort(key=agentensor_rules.newest_first_key, reverse=True)
        return found

    def _make_only_best(self, chosen: AgentensorCheckpoint) -> None:
        for cp_id, cp in list(self._state.checkpoints.items()):
            if cp.workflow_id == chosen.workflow_id and cp.is_best and cp_id != chosen.id:
                self._state.checkpoints[cp_id] = cp.model_copy(update={"is_best": False})
        self._state.checkpoints[chosen.id] = chosen

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
        existing = self._of(workflow_id)
        version = config_version
        if version is None:
            version = max((c.config_version for c in existing), default=0) + 1
        checkpoint = agentensor_rules.new_checkpoint(
            workflow_id=workflow_id,
            config_version=version,
            now=utcnow(),
            runnable_config=runnable_config,
            metrics=metrics,
            metadata=metadata,
            artifact_url=artifact_url,
            is_best=is_best,
        )
        if any(c.config_version == checkpoint.config_version for c in existing):
            raise DuplicateError("agentensor checkpoint", f"{workflow_id} v{version}")
        if checkpoint.is_best:
            self._make_only_best(checkpoint)
        else:
            self._state.checkpoints[checkpoint.id] = checkpoint
        return copy(checkpoint)

    async def get_checkpoint(self, checkpoint_id: UUID) -> AgentensorCheckpoint:
        checkpoint = self._state.checkpoints.get(checkpoint_id)
        if checkpoint is None:
            raise CheckpointNotFoundError(checkpoint_id)
        return copy(checkpoint)

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
        found = [
            c
            for c in self._of(workflow_id)
            if agentensor_rules.json_contains(c.metrics, metrics_fragment)
            and agentensor_rules.json_contains(c.metadata, metadata_fragment)
        ]
        return [copy(c) for c in found[:limit]]

    async def latest_checkpoint(self, workflow_id: str) -> AgentensorCheckpoint | None:
        found = self._of(workflow_id)
        return copy(found[0]) if found else None

    async def best_checkpoint(self, workflow_id: str) -> AgentensorCheckpoint | None:
        for checkpoint in self._of(workflow_id):
            if checkpoint.is_best:
                return copy(checkpoint)
        return None

    async def mark_best(self, checkpoint_id: UUID) -> AgentensorCheckpoint:
        checkpoint = self._state.checkpoints.get(checkpoint_id)
        if checkpoint is None:
            raise CheckpointNotFoundError(checkpoint_id)
        chosen = checkpoint.model_copy(update={"is_best": True})
        self._make_only_best(chosen)
        return copy(chosen)
