"""Pydantic models of every storage subsystem."""

from orcheo_storage.models.agentensor import AgentensorCheckpoint
from orcheo_storage.models.chat import ChatContext, PruneResult
from orcheo_storage.models.common import AuditEvent, Page, build
from orcheo_storage.models.history import HistoryStatus, RunHistoryRecord, RunHistoryStep
from orcheo_storage.models.listeners import (
    ListenerCursor,
    ListenerStatus,
    ListenerSubscription,
    ListenerSubscriptionSpec,
)
from orcheo_storage.models.remediations import RemediationCandidate, RemediationStatus
from orcheo_storage.models.tokens import ServiceToken, TokenAuditEvent
from orcheo_storage.models.triggers import CronConfig, RetryPolicy, WebhookConfig
from orcheo_storage.models.vault import (
    AccessContext,
    AccessScope,
    AlertSeverity,
    Credential,
    CredentialKind,
    CredentialTemplate,
    EncryptedSecret,
    GovernanceAlert,
    HealthStatus,
    StoredCredential,
)
from orcheo_storage.models.workflows import (
    ChatConfig,
    DraftAccess,
    Publication,
    RunStatus,
    VersionDiff,
    Workflow,
    WorkflowRun,
    WorkflowVersion,
)

__all__ = [
    "AccessContext",
    "AccessScope",
    "AgentensorCheckpoint",
    "AlertSeverity",
    "AuditEvent",
    "ChatConfig",
    "ChatContext",
    "Credential",
    "CredentialKind",
    "CredentialTemplate",
    "CronConfig",
    "DraftAccess",
    "EncryptedSecret",
    "GovernanceAlert",
    "HealthStatus",
    "HistoryStatus",
    "ListenerCursor",
    "ListenerStatus",
    "ListenerSubscription",
    "ListenerSubscriptionSpec",
    "Page",
    "PruneResult",
    "Publication",
    "RemediationCandidate",
    "RemediationStatus",
    "RetryPolicy",
    "RunHistoryRecord",
    "RunHistoryStep",
    "RunStatus",
    "ServiceToken",
    "StoredCredential",
    "TokenAuditEvent",
    "VersionDiff",
    "WebhookConfig",
    "Workflow",
    "WorkflowRun",
    "WorkflowVersion",
    "build",
]
