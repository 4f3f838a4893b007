"""Workflows, their versions and their runs."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, Field

from orcheo_storage.models.common import (
    INT64_MAX,
    AuditEvent,
    Json,
    JsonDict,
    StorageModel,
    Text,
    UtcDatetime,
)


class DraftAccess(enum.StrEnum):
    PERSONAL = "personal"
    AUTHENTICATED = "authenticated"
    WORKSPACE = "workspace"


class Publication(StorageModel):
    is_public: bool = False
    published_at: UtcDatetime | None = None
    published_by: Text | None = None
    require_login: bool = False


class ChatConfig(StorageModel):
    """Optional chat configuration shown by the workflow's chat front end."""

    start_screen_prompts: list[JsonDict] | None = None
    supported_models: list[JsonDict] | None = None


def _name(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("name must not be blank")
    if len(value) > 128:
        raise ValueError("name must be at most 128 characters")
    return value


WorkflowName = Annotated[Text, AfterValidator(_name)]


class Workflow(StorageModel):
    id: UUID
    name: WorkflowName
    handle: Text | None = None
    slug: Text
    description: Text | None = None
    tags: list[Text] = Field(default_factory=list)
    is_archived: bool = False
    draft_access: DraftAccess = DraftAccess.PERSONAL
    publication: Publication = Field(default_factory=Publication)
    chat: ChatConfig | None = None
    share_url: Text | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    audit_log: list[AuditEvent] = Field(default_factory=list)


class WorkflowVersion(StorageModel):
    id: UUID
    workflow_id: UUID
    version: int = Field(ge=1, le=INT64_MAX)
    graph: JsonDict
    metadata: JsonDict = Field(default_factory=dict)
    runnable_config: JsonDict | None = None
    notes: Text | None = None
    created_by: Text
    created_at: UtcDatetime
    checksum: Text
    audit_log: list[AuditEvent] = Field(default_factory=list)
    mermaid: Text | None = None
    updated_at: UtcDatetime


class VersionDiff(StorageModel):
    workflow_id: UUID
    base_version: int
    target_version: int
    diff: list[str]


class RunStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class WorkflowRun(StorageModel):
    id: UUID
    workflow_id: UUID
    workflow_version_id: UUID
    status: RunStatus = RunStatus.PENDING
    triggered_by: Text
    input_payload: JsonDict = Field(default_factory=dict)
    runnable_config: JsonDict = Field(default_factory=dict)
    tags: list[Text] = Field(default_factory=list)
    callbacks: list[Json] = Field(default_factory=list)
    metadata: JsonDict = Field(default_factory=dict)
    run_name: Text | None = None
    output_payload: JsonDict | None = None
    error: Text | None = None
    started_at: UtcDatetime | None = None
    completed_at: UtcDatetime | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    audit_log: list[AuditEvent] = Field(default_factory=list)


def run_sort_key(run: WorkflowRun) -> tuple[datetime, str]:
    """Newest-first ordering key for runs (sort descending)."""
    return (run.created_at, str(run.id))
