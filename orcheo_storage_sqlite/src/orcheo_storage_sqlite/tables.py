"""Column maps of every stored model (see :class:`~orcheo_storage_sqlite.codec.TableMap`)."""

from __future__ import annotations

from orcheo_storage.models.agentensor import AgentensorCheckpoint
from orcheo_storage.models.history import RunHistoryRecord
from orcheo_storage.models.listeners import ListenerSubscription
from orcheo_storage.models.remediations import RemediationCandidate
from orcheo_storage.models.tokens import ServiceToken, TokenAuditEvent
from orcheo_storage.models.triggers import CronConfig, RetryPolicy
from orcheo_storage.models.vault import CredentialTemplate, GovernanceAlert
from orcheo_storage.models.workflows import Workflow, WorkflowRun, WorkflowVersion

from orcheo_storage_sqlite.codec import TableMap

WORKFLOWS = TableMap(
    "workflows",
    Workflow,
    [
        ("id", "uuid"),
        ("name", "text"),
        ("handle", "text"),
        ("slug", "text"),
        ("description", "text"),
        ("tags", "json"),
        ("is_archived", "bool"),
        ("draft_access", "enum"),
        ("publication", "json"),
        ("chat", "json"),
        ("created_at", "ts"),
        ("updated_at", "ts"),
        ("audit_log", "json"),
        ("share_url", "text"),
    ],
)

VERSIONS = TableMap(
    "workflow_versions",
    WorkflowVersion,
    [
        ("id", "uuid"),
        ("workflow_id", "uuid"),
        ("version", "int"),
        ("graph", "json"),
        ("metadata", "json"),
        ("runnable_config", "json"),
        ("notes", "text"),
        ("created_by", "text"),
        ("created_at", "ts"),
        ("checksum", "text"),
        ("audit_log", "json"),
        ("mermaid", "text"),
        ("updated_at", "ts"),
    ],
)

RUNS = TableMap(
    "workflow_runs",
    WorkflowRun,
    [
        ("id", "uuid"),
        ("workflow_id", "uuid"),
        ("workflow_version_id", "uuid"),
        ("status", "enum"),
        ("triggered_by", "text"),
        ("input_payload", "json"),
        ("runnable_config", "json"),
        ("tags", "json"),
        ("callbacks", "json"),
        ("metadata", "json"),
        ("run_name", "text"),
        ("output_payload", "json"),
        ("error", "text"),
        ("started_at", "ts"),
        ("completed_at", "ts"),
        ("created_at", "ts"),
        ("updated_at", "ts"),
        ("audit_log", "json"),
    ],
)

CRON = TableMap(
    "cron_triggers",
    CronConfig,
    [
        ("expression", "text"),
        ("timezone", "text"),
        ("allow_overlapping", "bool"),
        ("start_at", "ts"),
        ("end_at", "ts"),
    ],
)

RETRY = TableMap(
    "retry_policies",
    RetryPolicy,
    [
        ("max_attempts", "int"),
        ("initial_delay_seconds", "float"),
        ("backoff_factor", "float"),
        ("max_delay_seconds", "float"),
        ("jitter_factor", "float"),
    ],
)

SUBSCRIPTIONS = TableMap(
    "listener_subscriptions",
    ListenerSubscription,
    [
        ("id", "uuid"),
        ("workflow_id", "uuid"),
        ("workflow_version_id", "uuid"),
        ("node_name", "text"),
        ("platform", "text"),
        ("bot_identity_key", "text"),
        ("config", "json"),
        ("status", "enum"),
        ("assigned_runtime", "text"),
        ("lease_expires_at", "ts"),
        ("last_event_at", "ts"),
        ("last_error", "text"),
        ("created_at", "ts"),
        ("updated_at", "ts"),
        ("audit_log", "json"),
    ],
)

CANDIDATES = TableMap(
    "remediation_candidates",
    RemediationCandidate,
    [
        ("id", "uuid"),
        ("workflow_id", "uuid"),
        ("workflow_version_id", "uuid"),
        ("run_id", "uuid"),
        ("fingerprint", "text"),
        ("version_checksum", "text"),
        ("status", "enum"),
        ("attempt_count", "int"),
        ("classification", "text"),
        ("action", "text"),
        ("context", "json"),
        ("developer_note", "text"),
        ("artifacts", "json"),
        ("validation_result", "json"),
        ("last_error", "text"),
        ("claimed_by", "text"),
        ("claimed_at", "ts"),
        ("created_at", "ts"),
        ("updated_at", "ts"),
        ("graph_format", "text"),
        ("created_version_id", "uuid"),
        ("audit_log", "json"),
    ],
)

HISTORIES = TableMap(
    "run_histories",
    RunHistoryRecord,
    [
        ("execution_id", "text"),
        ("workflow_id", "text"),
        ("inputs", "json"),
        ("runnable_config", "json"),
        ("tags", "json"),
        ("callbacks", "json"),
        ("metadata", "json"),
        ("run_name", "text"),
        ("status", "enum"),
        ("started_at", "ts"),
        ("completed_at", "ts"),
        ("error", "text"),
        ("trace_id", "text"),
        ("trace_started_at", "ts"),
        ("trace_completed_at", "ts"),
        ("trace_last_span_at", "ts"),
    ],
)

CHECKPOINTS = TableMap(
    "agentensor_checkpoints",
    AgentensorCheckpoint,
    [
        ("id", "uuid"),
        ("workflow_id", "text"),
        ("config_version", "int"),
        ("runnable_config", "json"),
        ("metrics", "json"),
        ("metadata", "json"),
        ("artifact_url", "text"),
        ("is_best", "bool"),
        ("created_at", "ts"),
    ],
)

TOKENS = TableMap(
    "service_tokens",
    ServiceToken,
    [
        ("identifier", "text"),
        ("secret_hash", "text"),
        ("scopes", "json"),
        ("workspace_ids", "json"),
        ("issued_at", "ts"),
        ("expires_at", "ts"),
        ("rotation_expires_at", "ts"),
        ("rotated_to", "text"),
        ("revoked_at", "ts"),
        ("revocation_reason", "text"),
        ("last_used_at", "ts"),
        ("use_count", "int"),
        ("created_at", "ts"),
        ("created_by", "text"),
        ("rotated_from", "text"),
        ("revoked_by", "text"),
        ("allowed_ip_ranges", "json"),
        ("rate_limit_override", "int"),
    ],
)

TOKEN_AUDIT = TableMap(
    "service_token_audit",
    TokenAuditEvent,
    [
        ("token_id", "text"),
        ("action", "text"),
        ("actor", "text"),
        ("ip", "text"),
        ("user_agent", "text"),
        ("timestamp", "ts"),
        ("details", "json"),
    ],
)

TEMPLATES = TableMap(
    "vault_templates",
    CredentialTemplate,
    [
        ("id", "uuid"),
        ("name", "text"),
        ("provider", "text"),
        ("scopes", "json"),
        ("description", "text"),
        ("access", "json"),
        ("kind", "enum"),
        ("issuance_policy", "json"),
        ("created_at", "ts"),
        ("updated_at", "ts"),
        ("audit_log", "json"),
    ],
)

ALERTS = TableMap(
    "vault_alerts",
    GovernanceAlert,
    [
        ("id", "uuid"),
        ("kind", "text"),
        ("severity", "enum"),
        ("message", "text"),
        ("credential_id", "uuid"),
        ("template_id", "uuid"),
        ("acknowledged", "bool"),
        ("acknowledged_by", "text"),
        ("acknowledged_at", "ts"),
        ("created_at", "ts"),
        ("updated_at", "ts"),
        ("access", "json"),
        ("audit_log", "json"),
    ],
)
