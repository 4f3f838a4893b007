"""Agentensor checkpoints."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from orcheo_storage.boundary import JsonFilter
from orcheo_storage.models.agentensor import AgentensorCheckpoint


@runtime_checkable
class AgentensorStore(Protocol):
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
        """config_version defaults to highest + 1 (atomic). ``is_best`` clears every other best
        of the workflow in the same transaction. An explicit duplicate version -> ``DuplicateError``."""
        ...

    async def get_checkpoint(self, checkpoint_id: UUID) -> AgentensorCheckpoint: ...

    async def list_checkpoints(
        self,
        workflow_id: str,
        *,
        limit: int = 50,
        metrics_contains: JsonFilter | None = None,
        metadata_contains: JsonFilter | None = None,
    ) -> list[AgentensorCheckpoint]:
        """Highest config_version first, then newest created_at. Containment filters need the
        ``json_containment`` capability (else ``UnsupportedError``)."""
        ...

    async def latest_checkpoint(self, workflow_id: str) -> AgentensorCheckpoint | None: ...

    async def best_checkpoint(self, workflow_id: str) -> AgentensorCheckpoint | None: ...

    async def mark_best(self, checkpoint_id: UUID) -> AgentensorCheckpoint:
        """Make this the only best checkpoint of its workflow."""
        ...
