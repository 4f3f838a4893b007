"""The logical tables every backend's bulk hooks speak.

A logical row is the JSON form (``model_dump(mode="json")`` plus the listed extra
columns) of one stored entity. Backends map their physical schema to these rows on
export and back on import, so data moves between any two backends.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LogicalTable:
    """A table name, its key columns (the row order) and its parents."""

    name: str
    key: tuple[str, ...]
    parents: tuple[str, ...] = ()
    description: str = ""


LOGICAL_TABLES: tuple[LogicalTable, ...] = (
    LogicalTable("workflows", ("id",), (), "Workflow.model_dump(mode='json')"),
    LogicalTable("workflow_versions", ("id",), ("workflows",), "WorkflowVersion"),
    LogicalTable("workflow_runs", ("id",), ("workflows", "workflow_versions"), "WorkflowRun"),
    LogicalTable(
        "webhook_triggers", ("workflow_id",), ("workflows",), "{workflow_id, config: sealed doc}"
    ),
    LogicalTable(
        "cron_triggers", ("workflow_id",), ("workflows",), "{workflow_id, config: CronConfig}"
    ),
    LogicalTable(
        "cron_dispatch", ("workflow_id",), ("workflows",), "{workflow_id, last_dispatched_at}"
    ),
    LogicalTable(
        "retry_policies", ("workflow_id",), ("workflows",), "{workflow_id, policy: RetryPolicy}"
    ),
    LogicalTable("retry_attempts", ("run_id",), (), "{run_id, attempts}"),
    LogicalTable("listener_subscriptions", ("id",), ("workflows",), "ListenerSubscription"),
    LogicalTable(
        "listener_cursors", ("subscription_id",), ("listener_subscriptions",), "ListenerCursor"
    ),
    LogicalTable(
        "listener_dedupe",
        ("subscription_id", "dedupe_key"),
        ("listener_subscriptions",),
        "{subscription_id, dedupe_key, expires_at}",
    ),
    LogicalTable("remediation_candidates", ("id",), ("workflows",), "RemediationCandidate"),
    LogicalTable("run_histories", ("execution_id",), (), "RunHistoryRecord without steps"),
    LogicalTable(
        "run_history_steps",
        ("execution_id", "index"),
        ("run_histories",),
        "{execution_id, index, at, payload}",
    ),
    LogicalTable("service_tokens", ("identifier",), (), "ServiceToken"),
    LogicalTable("service_token_audit", ("seq",), (), "TokenAuditEvent plus seq (insertion order)"),
    LogicalTable("agentensor_checkpoints", ("id",), (), "AgentensorCheckpoint"),
    LogicalTable("vault_templates", ("id",), (), "CredentialTemplate"),
    LogicalTable("vault_credentials", ("id",), ("vault_templates",), "StoredCredential"),
    LogicalTable(
        "vault_alerts", ("id",), ("vault_credentials", "vault_templates"), "GovernanceAlert"
    ),
    LogicalTable(
        "chat_threads",
        ("id",),
        (),
        "{id, title, created_at, updated_at, status, allowed_image_domains, metadata, workflow_id}",
    ),
    LogicalTable(
        "chat_items",
        ("thread_id", "ordinal"),
        ("chat_threads",),
        "{id, thread_id, ordinal, created_at, item}",
    ),
    LogicalTable(
        "chat_attachments",
        ("id",),
        ("chat_threads",),
        "{id, thread_id, storage_path, created_at, attachment}",
    ),
)

TABLES_BY_NAME = {t.name: t for t in LOGICAL_TABLES}
