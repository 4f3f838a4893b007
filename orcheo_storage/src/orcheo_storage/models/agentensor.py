"""Agentensor checkpoints: versioned agent-optimisation results per workflow."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import Field, StringConstraints

from orcheo_storage.models.common import INT64_MAX, JsonDict, StorageModel, Text, UtcDatetime

CheckpointWorkflowId = Annotated[Text, StringConstraints(min_length=1, max_length=128)]


class AgentensorCheckpoint(StorageModel):
    id: UUID
    workflow_id: CheckpointWorkflowId
    config_version: int = Field(ge=1, le=INT64_MAX)
    runnable_config: JsonDict = Field(default_factory=dict)
    metrics: JsonDict = Field(default_factory=dict)
    metadata: JsonDict = Field(default_factory=dict)
    artifact_url: Text | None = None
    is_best: bool = False
    created_at: UtcDatetime
