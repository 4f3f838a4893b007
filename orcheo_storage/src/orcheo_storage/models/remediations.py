"""Remediation candidates: failed runs queued for automated or manual repair."""

from __future__ import annotations

import enum
from uuid import UUID

from pydantic import Field

from orcheo_storage.models.common import (
    INT64_MAX,
    AuditEvent,
    JsonDict,
    StorageModel,
    Text,
    UtcDatetime,
)


class RemediationStatus(enum.StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    FIXED = "fixed"
    NOTE_ONLY = "note_only"
    FAILED = "failed"
    DISMISSED = "dismissed"


class RemediationCandidate(StorageModel):
    id: UUID
    workflow_id: UUID
    workflow_version_id: UUID
    run_id: UUID
    fingerprint: Text
    version_checksum: Text
    status: RemediationStatus = RemediationStatus.PENDING
    attempt_count: int = Field(default=0, ge=0, le=INT64_MAX)
    classification: Text | None = None
    action: Text | None = None
    context: JsonDict = Field(default_factory=dict)
    developer_note: Text | None = None
    artifacts: JsonDict = Field(default_factory=dict)
    validation_result: JsonDict | None = None
    last_error: Text | None = None
    claimed_by: Text | None = None
    claimed_at: UtcDatetime | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    graph_format: Text | None = None
    created_version_id: UUID | None = None
    audit_log: list[AuditEvent] = Field(default_factory=list)
