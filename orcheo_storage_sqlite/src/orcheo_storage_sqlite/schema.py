"""The schema, as append-only lists of migration steps per database component.

NEVER edit a step that has shipped: add a new one at the end of its list.
``tests/test_migrations.py`` pins the checksum of every existing step.

Conventions: timestamps are INTEGER microseconds since the epoch (UTC), UUIDs TEXT,
booleans INTEGER 0/1, nested values JSON TEXT written by ``orcheo_storage.jsoncodec``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """One schema migration step: a name and its statements (run in one transaction)."""

    version: int
    name: str
    statements: tuple[str, ...]

    @property
    def checksum(self) -> str:
        """SHA-256 of the statements; pinned by the tests so shipped steps never change."""
        return hashlib.sha256("\n;\n".join(self.statements).encode("utf-8")).hexdigest()


REPOSITORY_STEPS: tuple[Step, ...] = (
    Step(
        1,
        "workflows, versions and runs",
        (
            """CREATE TABLE workflows (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                handle TEXT,
                slug TEXT NOT NULL,
                description TEXT,
                tags TEXT NOT NULL,
                is_archived INTEGER NOT NULL DEFAULT 0 CHECK (is_archived IN (0, 1)),
                draft_access TEXT NOT NULL,
                publication TEXT NOT NULL,
                chat TEXT,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL,
                audit_log TEXT NOT NULL
            )""",
            # A handle is unique among non-archived workflows only.
            """CREATE UNIQUE INDEX workflows_active_handle ON workflows (handle)
                WHERE handle IS NOT NULL AND is_archived = 0""",
            "CREATE INDEX workflows_handle_updated ON workflows (handle, updated_at)",
            "CREATE INDEX workflows_created ON workflows (created_at, id)",
            "CREATE INDEX workflows_active_created ON workflows (is_archived, created_at, id)",
            """CREATE TABLE workflow_versions (
                id TEXT PRIMARY KEY,
                workflow_id TEXT NOT NULL REFERENCES workflows (id),
                version INTEGER NOT NULL CHECK (version >= 1),
                graph TEXT NOT NULL,
                metadata TEXT NOT NULL,
                runnable_config TEXT,
                notes TEXT,
                created_by TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                checksum TEXT NOT NULL,
                audit_log TEXT NOT NULL,
                UNIQUE (workflow_id, version)
            )""",
            """CREATE TABLE workflow_runs (
                id TEXT PRIMARY KEY,
                workflow_id TEXT NOT NULL REFERENCES workflows (id),
                workflow_version_id TEXT NOT NULL REFERENCES workflow_versions (id),
                status TEXT NOT NULL,
                triggered_by TEXT NOT NULL,
                input_payload TEXT NOT NULL,
                runnable_config TEXT NOT NULL,
                tags TEXT NOT NULL,
                callbacks TEXT NOT NULL,
                metadata TEXT NOT NULL,
                run_name TEXT,
                output_payload TEXT,
                error TEXT,
                started_at INTEGER,
                completed_at INTEGER,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL,
                audit_log TEXT NOT NULL
            )""",
            "CREATE INDEX workflow_runs_by_workflow ON workflow_runs (workflow_id, created_at, id)",
            "CREATE INDEX workflow_runs_by_version ON workflow_runs (workflow_version_id)",
        ),
    ),
    Step(
        2,
        "triggers, cron dispatch and retry state",
        (
            """CREATE TABLE webhook_triggers (
                workflow_id TEXT PRIMARY KEY REFERENCES workflows (id),
                config TEXT NOT NULL,
                updated_at INTEGER NOT NULL
            )""",
            """CREATE TABLE cron_triggers (
                workflow_id TEXT PRIMARY KEY REFERENCES workflows (id),
                expression TEXT NOT NULL,
                timezone TEXT NOT NULL,
                allow_overlapping INTEGER NOT NULL,
                start_at INTEGER,
                end_at INTEGER
            )""",
            """CREATE TABLE cron_dispatch (
                workflow_id TEXT PRIMARY KEY REFERENCES workflows (id),
                last_dispatched_at INTEGER NOT NULL
            )""",
            """CREATE TABLE retry_policies (
                workflow_id TEXT PRIMARY KEY REFERENCES workflows (id),
                max_attempts INTEGER NOT NULL,
                initial_delay_seconds REAL NOT NULL,
                backoff_factor REAL NOT NULL,
                max_delay_seconds REAL NOT NULL,
                jitter_factor REAL NOT NULL
            )""",
            """CREATE TABLE retry_attempts (
                run_id TEXT PRIMARY KEY,
                attempts INTEGER NOT NULL CHECK (attempts >= 0)
            )""",
        ),
    ),
    Step(
        3,
        "listener subscriptions, cursors and dedupe",
        (
            """CREATE TABLE listener_subscriptions (
                id TEXT PRIMARY KEY,
                workflow_id TEXT NOT NULL REFERENCES workflows (id),
                workflow_version_id TEXT NOT NULL,
                node_name TEXT NOT NULL,
                platform TEXT NOT NULL,
                bot_identity_key TEXT NOT NULL,
                config TEXT NOT NULL,
                status TEXT NOT NULL,
                assigned_runtime TEXT,
                lease_expires_at INTEGER,
                last_event_at INTEGER,
                last_error TEXT,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL,
                audit_log TEXT NOT NULL
            )""",
            """CREATE INDEX listener_subscriptions_by_workflow
                ON listener_subscriptions (workflow_id, created_at, id)""",
            """CREATE INDEX listener_subscriptions_by_status
                ON listener_subscriptions (status, created_at, id)""",
            """CREATE TABLE listener_cursors (
                subscription_id TEXT PRIMARY KEY REFERENCES listener_subscriptions (id),
                fields TEXT NOT NULL,
                metadata TEXT NOT NULL,
                updated_at INTEGER NOT NULL
            )""",
            """CREATE TABLE listener_dedupe (
                subscription_id TEXT NOT NULL REFERENCES listener_subscriptions (id),
                dedupe_key TEXT NOT NULL,
                expires_at INTEGER NOT NULL,
                PRIMARY KEY (subscription_id, dedupe_key)
            )""",
            "CREATE INDEX listener_dedupe_expiry ON listener_dedupe (expires_at)",
        ),
    ),
    Step(
        4,
        "remediation candidates",
        (
            """CREATE TABLE remediation_candidates (
                id TEXT PRIMARY KEY,
                workflow_id TEXT NOT NULL REFERENCES workflows (id),
                workflow_version_id TEXT NOT NULL,
                run_id TEXT NOT NULL,
                fingerprint TEXT NOT NULL,
                version_checksum TEXT NOT NULL,
                status TEXT NOT NULL,
                attempt_count INTEGER NOT NULL,
                classification TEXT,
                action TEXT,
                context TEXT NOT NULL,
                developer_note TEXT,
                artifacts TEXT NOT NULL,
                validation_result TEXT,
                last_error TEXT,
                claimed_by TEXT,
                claimed_at INTEGER,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL
            )""",
            # At most one open (pending or claimed) candidate per fingerprint.
            """CREATE UNIQUE INDEX remediation_open_fingerprint ON remediation_candidates
                (fingerprint) WHERE status IN ('pending', 'claimed')""",
            """CREATE INDEX remediation_by_status
                ON remediation_candidates (status, created_at, id)""",
            """CREATE INDEX remediation_by_workflow
                ON remediation_candidates (workflow_id, created_at, id)""",
            "CREATE INDEX remediation_created ON remediation_candidates (created_at, id)",
        ),
    ),
    Step(
        5,
        "run history",
        (
            """CREATE TABLE run_histories (
                execution_id TEXT PRIMARY KEY,
                workflow_id TEXT NOT NULL,
                inputs TEXT NOT NULL,
                runnable_config TEXT NOT NULL,
                tags TEXT NOT NULL,
                callbacks TEXT NOT NULL,
                metadata TEXT NOT NULL,
                run_name TEXT,
                status TEXT NOT NULL,
                started_at INTEGER NOT NULL,
                completed_at INTEGER,
                error TEXT,
                trace_id TEXT,
                trace_started_at INTEGER,
                trace_completed_at INTEGER,
                trace_last_span_at INTEGER,
                step_count INTEGER NOT NULL DEFAULT 0
            )""",
            """CREATE INDEX run_histories_by_workflow
                ON run_histories (workflow_id, started_at, execution_id)""",
            """CREATE TABLE run_history_steps (
                execution_id TEXT NOT NULL REFERENCES run_histories (execution_id),
                step_index INTEGER NOT NULL CHECK (step_index >= 0),
                at INTEGER NOT NULL,
                payload TEXT NOT NULL,
                PRIMARY KEY (execution_id, step_index)
            )""",
        ),
    ),
    Step(
        6,
        "agentensor checkpoints",
        (
            """CREATE TABLE agentensor_checkpoints (
                id TEXT PRIMARY KEY,
                workflow_id TEXT NOT NULL,
                config_version INTEGER NOT NULL CHECK (config_version >= 1),
                runnable_config TEXT NOT NULL,
                metrics TEXT NOT NULL,
                metadata TEXT NOT NULL,
                artifact_url TEXT,
                is_best INTEGER NOT NULL CHECK (is_best IN (0, 1)),
                created_at INTEGER NOT NULL,
                UNIQUE (workflow_id, config_version)
            )""",
            # At most one best checkpoint per workflow, always.
            """CREATE UNIQUE INDEX agentensor_one_best ON agentensor_checkpoints (workflow_id)
                WHERE is_best = 1""",
            """CREATE INDEX agentensor_newest
                ON agentensor_checkpoints (workflow_id, config_version, created_at)""",
        ),
    ),
    Step(
        7,
        "bulk import ledger",
        (
            """CREATE TABLE IF NOT EXISTS orcheo_migration_ledger (
                batch_id TEXT PRIMARY KEY,
                logical_table TEXT NOT NULL,
                row_count INTEGER NOT NULL,
                imported_at INTEGER NOT NULL
            )""",
        ),
    ),
    # A failed candidate may go back to pending while a newer pending one holds the same
    # fingerprint (the state machine allows it), so an open fingerprint is not unique.
    # Creation stays idempotent across processes: it checks and inserts under the write
    # lock (BEGIN IMMEDIATE).
    Step(
        8,
        "remediation fingerprints: plain index instead of a partial unique one",
        (
            "DROP INDEX remediation_open_fingerprint",
            "CREATE INDEX remediation_fingerprint ON remediation_candidates (fingerprint, status)",
        ),
    ),
    Step(
        9,
        "every field today's Orcheo stores: share URL, version mermaid and updated_at, "
        "remediation graph format / created version / audit log, retry without a delay "
        "ceiling, dedupe creation time",
        (
            "ALTER TABLE workflows ADD COLUMN share_url TEXT",
            "ALTER TABLE workflow_versions ADD COLUMN mermaid TEXT",
            "ALTER TABLE workflow_versions ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0",
            "UPDATE workflow_versions SET updated_at = created_at",
            "ALTER TABLE remediation_candidates ADD COLUMN graph_format TEXT",
            "ALTER TABLE remediation_candidates ADD COLUMN created_version_id TEXT",
            "ALTER TABLE remediation_candidates ADD COLUMN audit_log TEXT NOT NULL DEFAULT '[]'",
            """CREATE TABLE retry_policies_nullable_ceiling (
                workflow_id TEXT PRIMARY KEY REFERENCES workflows (id),
                max_attempts INTEGER NOT NULL,
                initial_delay_seconds REAL NOT NULL,
                backoff_factor REAL NOT NULL,
                max_delay_seconds REAL,
                jitter_factor REAL NOT NULL
            )""",
            "INSERT INTO retry_policies_nullable_ceiling SELECT * FROM retry_policies",
            "DROP TABLE retry_policies",
            "ALTER TABLE retry_policies_nullable_ceiling RENAME TO retry_policies",
            "ALTER TABLE listener_dedupe ADD COLUMN created_at INTEGER",
        ),
    ),
)

_TOKEN_FIDELITY = Step(
    2,
    "service token bookkeeping today's Orcheo keeps: created_at / created_by, rotated_from, "
    "revoked_by, allowed IP ranges, rate-limit override",
    (
        "ALTER TABLE service_tokens ADD COLUMN created_at INTEGER",
        "UPDATE service_tokens SET created_at = issued_at",
        "ALTER TABLE service_tokens ADD COLUMN created_by TEXT",
        "ALTER TABLE service_tokens ADD COLUMN rotated_from TEXT",
        "ALTER TABLE service_tokens ADD COLUMN revoked_by TEXT",
        "ALTER TABLE service_tokens ADD COLUMN allowed_ip_ranges TEXT",
        "ALTER TABLE service_tokens ADD COLUMN rate_limit_override INTEGER",
    ),
)

_VAULT_FIDELITY = Step(
    2,
    "credential rotation and health-check times; alert access scope and audit log",
    (
        "ALTER TABLE vault_credentials ADD COLUMN last_rotated_at INTEGER",
        "ALTER TABLE vault_credentials ADD COLUMN health_checked_at INTEGER",
        "ALTER TABLE vault_alerts ADD COLUMN access TEXT NOT NULL "
        """DEFAULT '{"workflow_ids":[],"workspace_ids":[],"roles":[]}'""",
        "ALTER TABLE vault_alerts ADD COLUMN audit_log TEXT NOT NULL DEFAULT '[]'",
    ),
)

TOKEN_STEPS: tuple[Step, ...] = (
    Step(
        1,
        "service tokens and their audit log",
        (
            """CREATE TABLE service_tokens (
                identifier TEXT PRIMARY KEY,
                secret_hash TEXT NOT NULL UNIQUE,
                scopes TEXT NOT NULL,
                workspace_ids TEXT NOT NULL,
                issued_at INTEGER NOT NULL,
                expires_at INTEGER,
                rotation_expires_at INTEGER,
                rotated_to TEXT,
                revoked_at INTEGER,
                revocation_reason TEXT,
                last_used_at INTEGER,
                use_count INTEGER NOT NULL DEFAULT 0
            )""",
            "CREATE INDEX service_tokens_issued ON service_tokens (issued_at, identifier)",
            """CREATE TABLE service_token_audit (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                token_id TEXT NOT NULL,
                action TEXT NOT NULL,
                actor TEXT,
                ip TEXT,
                user_agent TEXT,
                timestamp INTEGER NOT NULL,
                details TEXT NOT NULL
            )""",
            "CREATE INDEX service_token_audit_time ON service_token_audit (timestamp, seq)",
            """CREATE INDEX service_token_audit_by_token
                ON service_token_audit (token_id, timestamp, seq)""",
            """CREATE TABLE IF NOT EXISTS orcheo_migration_ledger (
                batch_id TEXT PRIMARY KEY,
                logical_table TEXT NOT NULL,
                row_count INTEGER NOT NULL,
                imported_at INTEGER NOT NULL
            )""",
        ),
    ),
    _TOKEN_FIDELITY,
)

VAULT_STEPS: tuple[Step, ...] = (
    Step(
        1,
        "vault credentials, templates and alerts",
        (
            """CREATE TABLE vault_templates (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                provider TEXT NOT NULL,
                scopes TEXT NOT NULL,
                description TEXT,
                access TEXT NOT NULL,
                kind TEXT NOT NULL,
                issuance_policy TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL,
                audit_log TEXT NOT NULL
            )""",
            "CREATE INDEX vault_templates_created ON vault_templates (created_at, id)",
            """CREATE TABLE vault_credentials (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                name_key TEXT NOT NULL UNIQUE,
                provider TEXT NOT NULL,
                scopes TEXT NOT NULL,
                access TEXT NOT NULL,
                kind TEXT NOT NULL,
                template_id TEXT,
                health_status TEXT NOT NULL,
                health_reason TEXT,
                oauth_expires_at INTEGER,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL,
                audit_log TEXT NOT NULL,
                secret TEXT NOT NULL,
                oauth_tokens TEXT
            )""",
            "CREATE INDEX vault_credentials_created ON vault_credentials (created_at, id)",
            "CREATE INDEX vault_credentials_template ON vault_credentials (template_id)",
            """CREATE TABLE vault_alerts (
                id TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                severity TEXT NOT NULL,
                message TEXT NOT NULL,
                credential_id TEXT,
                template_id TEXT,
                acknowledged INTEGER NOT NULL CHECK (acknowledged IN (0, 1)),
                acknowledged_by TEXT,
                acknowledged_at INTEGER,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL
            )""",
            # One unacknowledged alert per (kind, credential, template).
            """CREATE UNIQUE INDEX vault_alerts_open ON vault_alerts
                (kind, ifnull(credential_id, ''), ifnull(template_id, ''))
                WHERE acknowledged = 0""",
            "CREATE INDEX vault_alerts_created ON vault_alerts (created_at, id)",
            "CREATE INDEX vault_alerts_credential ON vault_alerts (credential_id)",
            "CREATE INDEX vault_alerts_template ON vault_alerts (template_id)",
            """CREATE TABLE IF NOT EXISTS orcheo_migration_ledger (
                batch_id TEXT PRIMARY KEY,
                logical_table TEXT NOT NULL,
                row_count INTEGER NOT NULL,
                imported_at INTEGER NOT NULL
            )""",
        ),
    ),
    _VAULT_FIDELITY,
    Step(
        3,
        "vault key checks",
        (
            # One small envelope per key id, so a wrong key is refused at start-up.
            """CREATE TABLE vault_key_checks (
                key_id TEXT PRIMARY KEY,
                algorithm TEXT NOT NULL,
                ciphertext TEXT NOT NULL,
                created_at INTEGER NOT NULL
            )""",
        ),
    ),
)

CHAT_STEPS: tuple[Step, ...] = (
    Step(
        1,
        "chat threads, items and attachments",
        (
            """CREATE TABLE chat_threads (
                id TEXT PRIMARY KEY,
                title TEXT,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL,
                status TEXT NOT NULL,
                allowed_image_domains TEXT,
                metadata TEXT NOT NULL,
                workflow_id TEXT
            )""",
            "CREATE INDEX chat_threads_created ON chat_threads (created_at, id)",
            "CREATE INDEX chat_threads_by_workflow ON chat_threads (workflow_id, created_at, id)",
            "CREATE INDEX chat_threads_updated ON chat_threads (updated_at)",
            """CREATE TABLE chat_items (
                id TEXT NOT NULL UNIQUE,
                thread_id TEXT NOT NULL REFERENCES chat_threads (id) ON DELETE CASCADE,
                ordinal INTEGER NOT NULL CHECK (ordinal >= 0),
                created_at INTEGER NOT NULL,
                item TEXT NOT NULL,
                search_text TEXT NOT NULL DEFAULT '',
                PRIMARY KEY (thread_id, ordinal)
            )""",
            """CREATE TABLE chat_attachments (
                id TEXT PRIMARY KEY,
                thread_id TEXT,
                storage_path TEXT,
                created_at INTEGER NOT NULL,
                attachment TEXT NOT NULL
            )""",
            "CREATE INDEX chat_attachments_thread ON chat_attachments (thread_id)",
            """CREATE TABLE IF NOT EXISTS orcheo_migration_ledger (
                batch_id TEXT PRIMARY KEY,
                logical_table TEXT NOT NULL,
                row_count INTEGER NOT NULL,
                imported_at INTEGER NOT NULL
            )""",
        ),
    ),
)

COMPONENTS: dict[str, tuple[Step, ...]] = {
    "repository": REPOSITORY_STEPS,
    "tokens": TOKEN_STEPS,
    "vault": VAULT_STEPS,
    "chat": CHAT_STEPS,
}
