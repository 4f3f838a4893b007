"""The PostgreSQL schema as an append-only list of migration steps.

Never edit or reorder a released step: add a new one. ``tests/test_schema.py`` pins the
checksum of every past step so an edit fails the build.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """One schema migration: its version (1, 2, ...), a name and its SQL."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


_WORKFLOWS = """
CREATE TABLE workflows (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    handle TEXT,
    slug TEXT NOT NULL,
    description TEXT,
    tags JSONB NOT NULL,
    is_archived BOOLEAN NOT NULL DEFAULT FALSE,
    draft_access TEXT NOT NULL CHECK (draft_access IN ('personal', 'authenticated', 'workspace')),
    publication JSONB NOT NULL,
    chat JSONB,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    audit_log JSONB NOT NULL,
    version_seq BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX workflows_active_handle ON workflows (handle)
    WHERE handle IS NOT NULL AND NOT is_archived;
CREATE INDEX workflows_handle_updated ON workflows (handle, updated_at DESC) WHERE handle IS NOT NULL;
CREATE INDEX workflows_created ON workflows (created_at, id);

CREATE TABLE workflow_versions (
    id UUID PRIMARY KEY,
    workflow_id UUID NOT NULL REFERENCES workflows (id),
    version BIGINT NOT NULL CHECK (version >= 1),
    graph JSONB NOT NULL,
    metadata JSONB NOT NULL,
    runnable_config JSONB,
    notes TEXT,
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    checksum TEXT NOT NULL,
    audit_log JSONB NOT NULL,
    CONSTRAINT workflow_versions_number UNIQUE (workflow_id, version)
);

CREATE TABLE workflow_runs (
    id UUID PRIMARY KEY,
    workflow_id UUID NOT NULL REFERENCES workflows (id),
    workflow_version_id UUID NOT NULL REFERENCES workflow_versions (id),
    status TEXT NOT NULL
        CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
    triggered_by TEXT NOT NULL,
    input_payload JSONB NOT NULL,
    runnable_config JSONB NOT NULL,
    tags JSONB NOT NULL,
    callbacks JSONB NOT NULL,
    metadata JSONB NOT NULL,
    run_name TEXT,
    output_payload JSONB,
    error TEXT,
    started_at TIMESTAMPTZ,
    completed_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    audit_log JSONB NOT NULL
);
CREATE INDEX workflow_runs_newest ON workflow_runs (workflow_id, created_at DESC, id DESC);
"""

_COORDINATION = """
CREATE TABLE webhook_triggers (
    workflow_id UUID PRIMARY KEY REFERENCES workflows (id),
    config JSONB NOT NULL
);
CREATE TABLE cron_triggers (
    workflow_id UUID PRIMARY KEY REFERENCES workflows (id),
    config JSONB NOT NULL
);
CREATE TABLE cron_dispatch (
    workflow_id UUID PRIMARY KEY REFERENCES workflows (id),
    last_dispatched_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE retry_policies (
    workflow_id UUID PRIMARY KEY REFERENCES workflows (id),
    policy JSONB NOT NULL
);
CREATE TABLE retry_attempts (
    run_id UUID PRIMARY KEY,
    attempts BIGINT NOT NULL CHECK (attempts >= 0)
);

CREATE TABLE listener_subscriptions (
    id UUID PRIMARY KEY,
    workflow_id UUID NOT NULL REFERENCES workflows (id),
    workflow_version_id UUID NOT NULL,
    node_name TEXT NOT NULL,
    platform TEXT NOT NULL,
    bot_identity_key TEXT NOT NULL,
    config JSONB NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'blocked', 'paused', 'error', 'disabled')),
    assigned_runtime TEXT,
    lease_expires_at TIMESTAMPTZ,
    last_event_at TIMESTAMPTZ,
    last_error TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    audit_log JSONB NOT NULL,
    seq BIGSERIAL NOT NULL
);
CREATE INDEX listener_subscriptions_by_workflow
    ON listener_subscriptions (workflow_id, created_at, seq);
CREATE INDEX listener_subscriptions_active
    ON listener_subscriptions (created_at, seq) WHERE status = 'active';

CREATE TABLE listener_cursors (
    subscription_id UUID PRIMARY KEY REFERENCES listener_subscriptions (id),
    fields JSONB NOT NULL,
    metadata JSONB NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE listener_dedupe (
    subscription_id UUID NOT NULL REFERENCES listener_subscriptions (id),
    dedupe_key TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (subscription_id, dedupe_key)
);
CREATE INDEX listener_dedupe_expiry ON listener_dedupe (expires_at);

CREATE TABLE remediation_candidates (
    id UUID PRIMARY KEY,
    workflow_id UUID NOT NULL REFERENCES workflows (id),
    workflow_version_id UUID NOT NULL,
    run_id UUID NOT NULL,
    fingerprint TEXT NOT NULL,
    version_checksum TEXT NOT NULL,
    status TEXT NOT NULL CHECK (
        status IN ('pending', 'claimed', 'fixed', 'note_only', 'failed', 'dismissed')),
    attempt_count BIGINT NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
    classification TEXT,
    action TEXT,
    context JSONB NOT NULL,
    developer_note TEXT,
    artifacts JSONB NOT NULL,
    validation_result JSONB,
    last_error TEXT,
    claimed_by TEXT,
    claimed_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX remediation_open_fingerprint ON remediation_candidates (fingerprint)
    WHERE status IN ('pending', 'claimed');
CREATE INDEX remediation_pending_queue ON remediation_candidates (created_at, id)
    WHERE status = 'pending';
CREATE INDEX remediation_newest ON remediation_candidates (created_at DESC, id DESC);
CREATE INDEX remediation_by_workflow
    ON remediation_candidates (workflow_id, created_at DESC, id DESC);
"""

_HISTORY_TOKENS_AGENTENSOR = """
CREATE TABLE run_histories (
    execution_id TEXT PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    inputs JSONB NOT NULL,
    runnable_config JSONB NOT NULL,
    tags JSONB NOT NULL,
    callbacks JSONB NOT NULL,
    metadata JSONB NOT NULL,
    run_name TEXT,
    status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'error', 'cancelled')),
    started_at TIMESTAMPTZ NOT NULL,
    completed_at TIMESTAMPTZ,
    error TEXT,
    trace_id TEXT,
    trace_started_at TIMESTAMPTZ,
    trace_completed_at TIMESTAMPTZ,
    trace_last_span_at TIMESTAMPTZ,
    step_count BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX run_histories_newest ON run_histories (workflow_id, started_at DESC, execution_id DESC);
CREATE TABLE run_history_steps (
    execution_id TEXT NOT NULL REFERENCES run_histories (execution_id) ON DELETE CASCADE,
    step_index BIGINT NOT NULL CHECK (step_index >= 0),
    at TIMESTAMPTZ NOT NULL,
    payload JSONB NOT NULL,
    PRIMARY KEY (execution_id, step_index)
);

CREATE TABLE service_tokens (
    identifier TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL CONSTRAINT service_tokens_secret_hash UNIQUE,
    scopes JSONB NOT NULL,
    workspace_ids JSONB NOT NULL,
    issued_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ,
    rotation_expires_at TIMESTAMPTZ,
    rotated_to TEXT,
    revoked_at TIMESTAMPTZ,
    revocation_reason TEXT,
    last_used_at TIMESTAMPTZ,
    use_count BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX service_tokens_issued ON service_tokens (issued_at, identifier);
CREATE TABLE service_token_audit (
    seq BIGSERIAL PRIMARY KEY,
    token_id TEXT NOT NULL,
    action TEXT NOT NULL,
    actor TEXT,
    ip TEXT,
    user_agent TEXT,
    "timestamp" TIMESTAMPTZ NOT NULL,
    details JSONB NOT NULL
);
CREATE INDEX service_token_audit_by_token ON service_token_audit (token_id, seq DESC);

CREATE TABLE agentensor_checkpoints (
    id UUID PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    config_version BIGINT NOT NULL CHECK (config_version >= 1),
    runnable_config JSONB NOT NULL,
    metrics JSONB NOT NULL,
    metadata JSONB NOT NULL,
    artifact_url TEXT,
    is_best BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT agentensor_version UNIQUE (workflow_id, config_version)
);
CREATE UNIQUE INDEX agentensor_one_best ON agentensor_checkpoints (workflow_id) WHERE is_best;
CREATE INDEX agentensor_newest
    ON agentensor_checkpoints (workflow_id, config_version DESC, created_at DESC, id DESC);
CREATE INDEX agentensor_metrics ON agentensor_checkpoints USING GIN (metrics jsonb_path_ops);
CREATE INDEX agentensor_metadata ON agentensor_checkpoints USING GIN (metadata jsonb_path_ops);
CREATE TABLE agentensor_counters (
    workflow_id TEXT PRIMARY KEY,
    last_version BIGINT NOT NULL
);
"""

_VAULT_CHAT = """
CREATE TABLE vault_credentials (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    provider TEXT NOT NULL,
    scopes JSONB NOT NULL,
    access JSONB NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('secret', 'oauth')),
    template_id UUID,
    health_status TEXT NOT NULL,
    health_reason TEXT,
    oauth_expires_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    audit_log JSONB NOT NULL,
    secret JSONB NOT NULL,
    oauth_tokens JSONB
);
CREATE UNIQUE INDEX vault_credentials_name ON vault_credentials (lower(name));
CREATE INDEX vault_credentials_created ON vault_credentials (created_at, id);
CREATE TABLE vault_templates (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    provider TEXT NOT NULL,
    scopes JSONB NOT NULL,
    description TEXT,
    access JSONB NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('secret', 'oauth')),
    issuance_policy JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    audit_log JSONB NOT NULL
);
CREATE INDEX vault_templates_created ON vault_templates (created_at, id);
CREATE TABLE vault_alerts (
    id UUID PRIMARY KEY,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    message TEXT NOT NULL,
    credential_id UUID,
    template_id UUID,
    acknowledged BOOLEAN NOT NULL DEFAULT FALSE,
    acknowledged_by TEXT,
    acknowledged_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX vault_alerts_open ON vault_alerts (
    kind,
    coalesce(credential_id, '00000000-0000-0000-0000-000000000000'::uuid),
    coalesce(template_id, '00000000-0000-0000-0000-000000000000'::uuid)
) WHERE NOT acknowledged;
CREATE INDEX vault_alerts_newest ON vault_alerts (created_at DESC, id DESC);
CREATE INDEX vault_alerts_credential ON vault_alerts (credential_id);
CREATE INDEX vault_alerts_template ON vault_alerts (template_id);

CREATE TABLE chat_threads (
    id TEXT PRIMARY KEY,
    title TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    status JSONB NOT NULL,
    allowed_image_domains JSONB,
    metadata JSONB NOT NULL,
    workflow_id TEXT,
    item_seq BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX chat_threads_page ON chat_threads (created_at, id);
CREATE INDEX chat_threads_workflow_page ON chat_threads (workflow_id, created_at, id);
CREATE INDEX chat_threads_updated ON chat_threads (updated_at);
CREATE INDEX chat_threads_metadata ON chat_threads USING GIN (metadata jsonb_path_ops);
CREATE TABLE chat_items (
    thread_id TEXT NOT NULL REFERENCES chat_threads (id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    ordinal BIGINT NOT NULL CHECK (ordinal >= 0),
    created_at TIMESTAMPTZ NOT NULL,
    item JSONB NOT NULL,
    search TSVECTOR GENERATED ALWAYS AS (
        jsonb_to_tsvector('simple', item, '["string"]')) STORED,
    PRIMARY KEY (thread_id, id),
    CONSTRAINT chat_items_ordinal UNIQUE (thread_id, ordinal)
);
CREATE INDEX chat_items_search ON chat_items USING GIN (search);
CREATE TABLE chat_attachments (
    id TEXT PRIMARY KEY,
    thread_id TEXT,
    storage_path TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    attachment JSONB NOT NULL
);
CREATE INDEX chat_attachments_thread ON chat_attachments (thread_id);

CREATE TABLE orcheo_migration_ledger (
    batch_id TEXT PRIMARY KEY,
    table_name TEXT NOT NULL,
    row_count BIGINT NOT NULL,
    imported_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
"""

# Chat item ids are unique across threads (as ChatKit generates them and as every other
# backend enforces), and search covers only the items' text parts, not ids or type names.
_CHAT_ITEM_IDS_AND_TEXT_SEARCH = """
ALTER TABLE chat_items DROP CONSTRAINT chat_items_pkey;
ALTER TABLE chat_items ADD CONSTRAINT chat_items_pkey PRIMARY KEY (id);
ALTER TABLE chat_items DROP COLUMN search;
ALTER TABLE chat_items ADD COLUMN search TSVECTOR GENERATED ALWAYS AS (
    to_tsvector('simple'::regconfig, jsonb_path_query_array(item, 'strict $.**.text'))) STORED;
CREATE INDEX chat_items_search ON chat_items USING GIN (search);
"""

# Callers' opaque documents become ``json`` (verbatim text): JSONB reorders object keys,
# and these must come back exactly as given. Columns the database filters or indexes
# (checkpoint metrics/metadata, chat thread metadata, chat items) stay JSONB.
_VERBATIM_DOCUMENTS = """
ALTER TABLE workflow_versions ALTER COLUMN graph TYPE JSON USING graph::json,
    ALTER COLUMN metadata TYPE JSON USING metadata::json,
    ALTER COLUMN runnable_config TYPE JSON USING runnable_config::json;
ALTER TABLE workflow_runs ALTER COLUMN input_payload TYPE JSON USING input_payload::json,
    ALTER COLUMN runnable_config TYPE JSON USING runnable_config::json,
    ALTER COLUMN callbacks TYPE JSON USING callbacks::json,
    ALTER COLUMN metadata TYPE JSON USING metadata::json,
    ALTER COLUMN output_payload TYPE JSON USING output_payload::json;
ALTER TABLE run_histories ALTER COLUMN inputs TYPE JSON USING inputs::json,
    ALTER COLUMN runnable_config TYPE JSON USING runnable_config::json,
    ALTER COLUMN callbacks TYPE JSON USING callbacks::json,
    ALTER COLUMN metadata TYPE JSON USING metadata::json;
ALTER TABLE run_history_steps ALTER COLUMN payload TYPE JSON USING payload::json;
ALTER TABLE listener_subscriptions ALTER COLUMN config TYPE JSON USING config::json;
ALTER TABLE listener_cursors ALTER COLUMN fields TYPE JSON USING fields::json,
    ALTER COLUMN metadata TYPE JSON USING metadata::json;
ALTER TABLE remediation_candidates ALTER COLUMN context TYPE JSON USING context::json,
    ALTER COLUMN artifacts TYPE JSON USING artifacts::json,
    ALTER COLUMN validation_result TYPE JSON USING validation_result::json;
ALTER TABLE service_token_audit ALTER COLUMN details TYPE JSON USING details::json;
ALTER TABLE agentensor_checkpoints
    ALTER COLUMN runnable_config TYPE JSON USING runnable_config::json;
"""

# Subscriptions list in (created_at, id) order, like every other list; remediation
# candidates are also listed by status.
_LIST_INDEXES = """
DROP INDEX listener_subscriptions_by_workflow;
DROP INDEX listener_subscriptions_active;
CREATE INDEX listener_subscriptions_by_workflow
    ON listener_subscriptions (workflow_id, created_at, id);
CREATE INDEX listener_subscriptions_active
    ON listener_subscriptions (created_at, id) WHERE status = 'active';
CREATE INDEX remediation_by_status
    ON remediation_candidates (status, created_at DESC, id DESC);
"""

# A failed candidate may be re-opened while another of its fingerprint is open, so open
# fingerprints are not unique; creation is serialised per fingerprint by an advisory lock.
_REOPENABLE_REMEDIATIONS = """
DROP INDEX remediation_open_fingerprint;
CREATE INDEX remediation_open_fingerprint ON remediation_candidates (fingerprint, created_at)
    WHERE status IN ('pending', 'claimed');
"""

# The big documents are compressed with lz4 instead of pglz when TOASTed: several times
# faster to write (a bulk import of run history halves its server time), a little larger.
# Only new values are affected (no rewrite). Servers before 14, or built without lz4,
# keep pglz: the step succeeds there without changing anything.
_LZ4_DOCUMENTS = """
DO $$
BEGIN
    IF current_setting('server_version_num')::int >= 140000 THEN
        EXECUTE 'ALTER TABLE run_history_steps ALTER COLUMN payload SET COMPRESSION lz4';
        EXECUTE 'ALTER TABLE chat_items ALTER COLUMN item SET COMPRESSION lz4';
        EXECUTE 'ALTER TABLE workflow_versions ALTER COLUMN graph SET COMPRESSION lz4';
        EXECUTE 'ALTER TABLE workflow_runs ALTER COLUMN input_payload SET COMPRESSION lz4, '
            'ALTER COLUMN output_payload SET COMPRESSION lz4';
        EXECUTE 'ALTER TABLE run_histories ALTER COLUMN inputs SET COMPRESSION lz4';
        EXECUTE 'ALTER TABLE agentensor_checkpoints '
            'ALTER COLUMN runnable_config SET COMPRESSION lz4, '
            'ALTER COLUMN metrics SET COMPRESSION lz4';
    END IF;
EXCEPTION WHEN feature_not_supported THEN
    NULL;
END
$$;
"""

# Every field today's Orcheo stores has a place: the workflow's share URL, a version's
# mermaid text and update time, a remediation's graph format / created version / audit log,
# a dedupe record's creation time, service-token bookkeeping, credential rotation and
# health-check times, an alert's access scope and audit log.
_ORCHEO_FIDELITY = """
ALTER TABLE workflows ADD COLUMN share_url TEXT;
ALTER TABLE workflow_versions ADD COLUMN mermaid TEXT, ADD COLUMN updated_at TIMESTAMPTZ;
UPDATE workflow_versions SET updated_at = created_at;
ALTER TABLE workflow_versions ALTER COLUMN updated_at SET NOT NULL;
ALTER TABLE remediation_candidates ADD COLUMN graph_format TEXT,
    ADD COLUMN created_version_id UUID,
    ADD COLUMN audit_log JSONB NOT NULL DEFAULT '[]';
ALTER TABLE listener_dedupe ADD COLUMN created_at TIMESTAMPTZ;
ALTER TABLE service_tokens ADD COLUMN created_at TIMESTAMPTZ, ADD COLUMN created_by TEXT,
    ADD COLUMN rotated_from TEXT, ADD COLUMN revoked_by TEXT,
    ADD COLUMN allowed_ip_ranges JSONB, ADD COLUMN rate_limit_override BIGINT;
UPDATE service_tokens SET created_at = issued_at;
ALTER TABLE vault_credentials ADD COLUMN last_rotated_at TIMESTAMPTZ,
    ADD COLUMN health_checked_at TIMESTAMPTZ;
ALTER TABLE vault_alerts
    ADD COLUMN access JSONB NOT NULL
        DEFAULT '{"workflow_ids": [], "workspace_ids": [], "roles": []}',
    ADD COLUMN audit_log JSONB NOT NULL DEFAULT '[]';
"""

# One small envelope per vault key id, so a wrong key is refused at start-up.
_VAULT_KEY_CHECKS = """
CREATE TABLE vault_key_checks (
    key_id TEXT PRIMARY KEY,
    algorithm TEXT NOT NULL,
    ciphertext TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
"""

STEPS: tuple[Step, ...] = (
    Step(1, "workflows_versions_runs", _WORKFLOWS),
    Step(2, "triggers_listeners_remediations", _COORDINATION),
    Step(3, "history_tokens_agentensor", _HISTORY_TOKENS_AGENTENSOR),
    Step(4, "vault_chat_ledger", _VAULT_CHAT),
    Step(5, "chat_item_ids_and_text_search", _CHAT_ITEM_IDS_AND_TEXT_SEARCH),
    Step(6, "verbatim_documents", _VERBATIM_DOCUMENTS),
    Step(7, "list_indexes", _LIST_INDEXES),
    Step(8, "reopenable_remediations", _REOPENABLE_REMEDIATIONS),
    Step(9, "lz4_documents", _LZ4_DOCUMENTS),
    Step(10, "orcheo_fidelity", _ORCHEO_FIDELITY),
    Step(11, "vault_key_checks", _VAULT_KEY_CHECKS),
)
"""Append-only. The version of step ``i`` is ``i + 1``."""

LATEST = STEPS[-1].version
