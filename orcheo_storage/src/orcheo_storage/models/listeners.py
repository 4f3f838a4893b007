"""Listener subscriptions (long-lived event sources), their cursors and dedupe keys."""

from __future__ import annotations

import enum
from uuid import UUID

from pydantic import Field

from orcheo_storage.models.common import AuditEvent, JsonDict, StorageModel, Text, UtcDatetime


class ListenerStatus(enum.StrEnum):
    ACTIVE = "active"
    BLOCKED = "blocked"
    PAUSED = "paused"
    ERROR = "error"
    DISABLED = "disabled"


class ListenerSubscriptionSpec(StorageModel):
    """What a workflow version declares: one listener node."""

    node_name: Text
    platform: Text
    bot_identity_key: Text
    config: JsonDict = Field(default_factory=dict)


class ListenerSubscription(StorageModel):
    id: UUID
    workflow_id: UUID
    workflow_version_id: UUID
    node_name: Text
    platform: Text
    bot_identity_key: Text
    config: JsonDict = Field(default_factory=dict)
    status: ListenerStatus = ListenerStatus.ACTIVE
    assigned_runtime: Text | None = None
    lease_expires_at: UtcDatetime | None = None
    last_event_at: UtcDatetime | None = None
    last_error: Text | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    audit_log: list[AuditEvent] = Field(default_factory=list)


class ListenerCursor(StorageModel):
    subscription_id: UUID
    fields: JsonDict = Field(default_factory=dict)
    metadata: JsonDict = Field(default_factory=dict)
    updated_at: UtcDatetime
