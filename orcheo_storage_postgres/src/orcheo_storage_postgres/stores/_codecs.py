"""Row codecs of every table that holds a core model (one place, shared by stores and bulk)."""

from __future__ import annotations

from orcheo_storage.models.agentensor import AgentensorCheckpoint
from orcheo_storage.models.history import RunHistoryRecord
from orcheo_storage.models.listeners import ListenerCursor, ListenerSubscription
from orcheo_storage.models.remediations import RemediationCandidate
from orcheo_storage.models.tokens import ServiceToken, TokenAuditEvent
from orcheo_storage.models.vault import Credential, CredentialTemplate, GovernanceAlert
from orcheo_storage.models.workflows import Workflow, WorkflowRun, WorkflowVersion

from orcheo_storage_postgres._rows import RowCodec

WORKFLOWS = RowCodec(
    Workflow, "workflows", ("tags", "publication", "chat", "audit_log"), pure_json=("tags",)
)
VERSIONS = RowCodec(
    WorkflowVersion,
    "workflow_versions",
    ("graph", "metadata", "runnable_config", "audit_log"),
    pure_json=("graph", "metadata", "runnable_config"),
    text_json=("graph", "metadata", "runnable_config"),
)
RUNS = RowCodec(
    WorkflowRun,
    "workflow_runs",
    (
        "input_payload",
        "runnable_config",
        "tags",
        "callbacks",
        "metadata",
        "output_payload",
        "audit_log",
    ),
    pure_json=("input_payload", "runnable_config", "metadata", "output_payload"),
    text_json=("input_payload", "runnable_config", "callbacks", "metadata", "output_payload"),
)
SUBSCRIPTIONS = RowCodec(
    ListenerSubscription,
    "listener_subscriptions",
    ("config", "audit_log"),
    pure_json=("config",),
    text_json=("config",),
)
CURSORS = RowCodec(
    ListenerCursor,
    "listener_cursors",
    ("fields", "metadata"),
    pure_json=("fields", "metadata"),
    text_json=("fields", "metadata"),
)
CANDIDATES = RowCodec(
    RemediationCandidate,
    "remediation_candidates",
    ("context", "artifacts", "validation_result", "audit_log"),
    pure_json=("context", "artifacts", "validation_result"),
    text_json=("context", "artifacts", "validation_result"),
)
HISTORIES = RowCodec(
    RunHistoryRecord,
    "run_histories",
    ("inputs", "runnable_config", "tags", "callbacks", "metadata"),
    columns=[f for f in RunHistoryRecord.model_fields if f != "steps"],
    pure_json=("inputs", "runnable_config", "tags", "callbacks", "metadata"),
    text_json=("inputs", "runnable_config", "callbacks", "metadata"),
)
TOKENS = RowCodec(
    ServiceToken,
    "service_tokens",
    ("scopes", "workspace_ids", "allowed_ip_ranges"),
    pure_json=("scopes", "workspace_ids", "allowed_ip_ranges"),
)
TOKEN_AUDIT = RowCodec(
    TokenAuditEvent,
    "service_token_audit",
    ("details",),
    pure_json=("details",),
    text_json=("details",),
)
CHECKPOINTS = RowCodec(
    AgentensorCheckpoint,
    "agentensor_checkpoints",
    ("runnable_config", "metrics", "metadata"),
    pure_json=("runnable_config", "metrics", "metadata"),
    text_json=("runnable_config",),
)
CREDENTIALS = RowCodec(Credential, "vault_credentials", ("scopes", "access", "audit_log"))
TEMPLATES = RowCodec(
    CredentialTemplate, "vault_templates", ("scopes", "access", "issuance_policy", "audit_log")
)
ALERTS = RowCodec(GovernanceAlert, "vault_alerts", ("access", "audit_log"))
