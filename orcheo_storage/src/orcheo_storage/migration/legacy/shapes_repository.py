"""Shapes of the tables in ``workflows.sqlite`` (see :mod:`.shapes`)."""

from __future__ import annotations

from orcheo_storage.migration.legacy.fields import (
    Kind,
    LegacyTable,
    derived,
    dropped,
    mapped,
    mirror,
    stamps,
    typed,
)

MIRROR_NOTE = "copy of the payload key; Orcheo reads the payload"

WORKFLOWS = LegacyTable(
    "repository",
    "workflows",
    "workflows",
    (
        mirror("id", Kind.TEXT, "payload.id"),
        mirror("handle", Kind.TEXT, "payload.handle"),
        mirror("is_archived", Kind.BOOL, "payload.is_archived"),
        mirror("created_at", Kind.TIME, "payload.created_at"),
        mirror("updated_at", Kind.TIME, "payload.updated_at"),
        typed(
            "payload",
            Kind.DOCUMENT,
            "workflows",
            *stamps("workflows"),
            mapped("name", Kind.TEXT, "workflows.name"),
            mapped("handle", Kind.TEXT, "workflows.handle"),
            mapped("slug", Kind.TEXT, "workflows.slug"),
            mapped("description", Kind.TEXT, "workflows.description"),
            mapped("tags", Kind.LIST, "workflows.tags"),
            mapped("is_archived", Kind.BOOL, "workflows.is_archived"),
            derived(
                "draft_access",
                Kind.TEXT,
                "workflows.draft_access",
                "when absent (older payloads): `workspace` if a tag starts with `workspace:`, "
                "else `personal` (Orcheo's own backfill)",
            ),
            mapped("is_public", Kind.BOOL, "workflows.publication.is_public"),
            mapped("published_at", Kind.TIME, "workflows.publication.published_at"),
            mapped("published_by", Kind.TEXT, "workflows.publication.published_by"),
            mapped("require_login", Kind.BOOL, "workflows.publication.require_login"),
            mapped("share_url", Kind.TEXT, "workflows.share_url"),
            typed(
                "chatkit",
                Kind.OBJECT,
                "workflows.chat",
                mapped("start_screen_prompts", Kind.JSON, "workflows.chat.start_screen_prompts"),
                mapped("supported_models", Kind.JSON, "workflows.chat.supported_models"),
            ),
            derived(
                "chatkit_start_screen_prompts",
                Kind.JSON,
                "workflows.chat.start_screen_prompts",
                "older top-level key, folded into `chat` unless `chatkit` is set (as Orcheo does)",
            ),
            derived(
                "chatkit_supported_models",
                Kind.JSON,
                "workflows.chat.supported_models",
                "older top-level key, folded into `chat` unless `chatkit` is set (as Orcheo does)",
            ),
            dropped(
                "publish_token_hash",
                Kind.TEXT,
                "older publish-token scheme; Orcheo discards it when it reads the workflow",
            ),
            dropped(
                "publish_token_rotated_at",
                Kind.TIME,
                "older publish-token scheme; Orcheo discards it when it reads the workflow",
            ),
        ),
    ),
)

VERSIONS = LegacyTable(
    "repository",
    "workflow_versions",
    "workflow_versions",
    (
        mirror("id", Kind.TEXT, "payload.id"),
        mirror("workflow_id", Kind.TEXT, "payload.workflow_id"),
        mirror("version", Kind.INT, "payload.version"),
        mirror("created_at", Kind.TIME, "payload.created_at"),
        mirror("updated_at", Kind.TIME, "payload.updated_at"),
        typed(
            "payload",
            Kind.DOCUMENT,
            "workflow_versions",
            *stamps("workflow_versions"),
            mapped("workflow_id", Kind.TEXT, "workflow_versions.workflow_id"),
            mapped("version", Kind.INT, "workflow_versions.version"),
            derived(
                "graph",
                Kind.JSON,
                "workflow_versions.graph",
                "kept whole; `checksum` is computed from it by Orcheo's rule (Orcheo stores "
                "no checksum), so it equals the one Orcheo's clients compute",
            ),
            mapped("mermaid", Kind.TEXT, "workflow_versions.mermaid"),
            mapped("metadata", Kind.JSON, "workflow_versions.metadata"),
            mapped("runnable_config", Kind.JSON, "workflow_versions.runnable_config"),
            mapped("created_by", Kind.TEXT, "workflow_versions.created_by"),
            mapped("notes", Kind.TEXT, "workflow_versions.notes"),
        ),
    ),
)

RUNS = LegacyTable(
    "repository",
    "workflow_runs",
    "workflow_runs",
    (
        mirror("id", Kind.TEXT, "payload.id"),
        mapped("workflow_id", Kind.TEXT, "workflow_runs.workflow_id", "only the column holds it"),
        mirror("workflow_version_id", Kind.TEXT, "payload.workflow_version_id"),
        mirror("status", Kind.TEXT, "payload.status"),
        mirror("triggered_by", Kind.TEXT, "payload.triggered_by"),
        mirror("created_at", Kind.TIME, "payload.created_at"),
        mirror("updated_at", Kind.TIME, "payload.updated_at"),
        typed(
            "payload",
            Kind.DOCUMENT,
            "workflow_runs",
            *stamps("workflow_runs"),
            mapped("workflow_version_id", Kind.TEXT, "workflow_runs.workflow_version_id"),
            mapped("status", Kind.TEXT, "workflow_runs.status"),
            mapped("triggered_by", Kind.TEXT, "workflow_runs.triggered_by"),
            mapped("input_payload", Kind.JSON, "workflow_runs.input_payload"),
            mapped("runnable_config", Kind.JSON, "workflow_runs.runnable_config"),
            mapped("tags", Kind.LIST, "workflow_runs.tags"),
            mapped("callbacks", Kind.JSON, "workflow_runs.callbacks"),
            mapped("metadata", Kind.JSON, "workflow_runs.metadata"),
            mapped("run_name", Kind.TEXT, "workflow_runs.run_name"),
            mapped("output_payload", Kind.JSON, "workflow_runs.output_payload"),
            mapped("started_at", Kind.TIME, "workflow_runs.started_at"),
            mapped("completed_at", Kind.TIME, "workflow_runs.completed_at"),
            mapped("error", Kind.TEXT, "workflow_runs.error"),
        ),
    ),
)

REMEDIATIONS = LegacyTable(
    "repository",
    "workflow_run_remediations",
    "remediation_candidates",
    (
        *(
            mirror(name, kind, f"payload.{name}")
            for name, kind in (
                ("id", Kind.TEXT),
                ("workflow_id", Kind.TEXT),
                ("workflow_version_id", Kind.TEXT),
                ("run_id", Kind.TEXT),
                ("status", Kind.TEXT),
                ("fingerprint", Kind.TEXT),
                ("version_checksum", Kind.TEXT),
                ("attempt_count", Kind.INT),
                ("created_at", Kind.TIME),
                ("updated_at", Kind.TIME),
            )
        ),
        typed(
            "payload",
            Kind.DOCUMENT,
            "remediation_candidates",
            *stamps("remediation_candidates"),
            *(
                mapped(name, kind, f"remediation_candidates.{name}")
                for name, kind in (
                    ("workflow_id", Kind.TEXT),
                    ("workflow_version_id", Kind.TEXT),
                    ("run_id", Kind.TEXT),
                    ("status", Kind.TEXT),
                    ("fingerprint", Kind.TEXT),
                    ("version_checksum", Kind.TEXT),
                    ("graph_format", Kind.TEXT),
                    ("attempt_count", Kind.INT),
                    ("classification", Kind.TEXT),
                    ("action", Kind.TEXT),
                    ("context", Kind.JSON),
                    ("developer_note", Kind.TEXT),
                    ("created_version_id", Kind.TEXT),
                    ("artifacts", Kind.JSON),
                    ("validation_result", Kind.JSON),
                    ("last_error", Kind.TEXT),
                    ("claimed_by", Kind.TEXT),
                    ("claimed_at", Kind.TIME),
                )
            ),
        ),
    ),
)

WEBHOOKS = LegacyTable(
    "repository",
    "webhook_triggers",
    "webhook_triggers",
    (
        mapped("workflow_id", Kind.TEXT, "webhook_triggers.workflow_id"),
        typed(
            "config",
            Kind.DOCUMENT,
            "webhook_triggers.config",
            mapped("allowed_methods", Kind.LIST, "webhook_triggers.config.allowed_methods"),
            mapped("required_headers", Kind.JSON, "webhook_triggers.config.required_headers"),
            mapped(
                "required_query_params", Kind.JSON, "webhook_triggers.config.required_query_params"
            ),
            mapped(
                "shared_secret_header", Kind.TEXT, "webhook_triggers.config.shared_secret_header"
            ),
            derived(
                "secret_header",
                Kind.TEXT,
                "webhook_triggers.config.shared_secret_header",
                "the model's alias of `shared_secret_header` (Orcheo accepts both)",
            ),
            mapped(
                "shared_secret",
                Kind.TEXT,
                "webhook_triggers.config.shared_secret",
                "plain text today; sealed under the target's vault key",
            ),
            mapped("hmac_header", Kind.TEXT, "webhook_triggers.config.hmac_header"),
            mapped(
                "hmac_secret",
                Kind.TEXT,
                "webhook_triggers.config.hmac_secret",
                "plain text today; sealed under the target's vault key",
            ),
            mapped("hmac_algorithm", Kind.TEXT, "webhook_triggers.config.hmac_algorithm"),
            mapped(
                "hmac_timestamp_header", Kind.TEXT, "webhook_triggers.config.hmac_timestamp_header"
            ),
            mapped(
                "hmac_tolerance_seconds", Kind.INT, "webhook_triggers.config.hmac_tolerance_seconds"
            ),
            typed(
                "rate_limit",
                Kind.OBJECT,
                "webhook_triggers.config.rate_limit",
                mapped("limit", Kind.INT, "webhook_triggers.config.rate_limit.limit"),
                mapped(
                    "interval_seconds",
                    Kind.INT,
                    "webhook_triggers.config.rate_limit.interval_seconds",
                ),
            ),
        ),
    ),
)

CRONS = LegacyTable(
    "repository",
    "cron_triggers",
    "cron_triggers",
    (
        mapped("workflow_id", Kind.TEXT, "cron_triggers.workflow_id"),
        typed(
            "config",
            Kind.DOCUMENT,
            "cron_triggers.config",
            mapped("expression", Kind.TEXT, "cron_triggers.config.expression"),
            mapped("timezone", Kind.TEXT, "cron_triggers.config.timezone"),
            mapped("allow_overlapping", Kind.BOOL, "cron_triggers.config.allow_overlapping"),
            mapped("start_at", Kind.TIME, "cron_triggers.config.start_at"),
            mapped("end_at", Kind.TIME, "cron_triggers.config.end_at"),
        ),
        mapped(
            "last_dispatched_at",
            Kind.TIME,
            "cron_dispatch.last_dispatched_at",
            "a row of `cron_dispatch` when set; absent in older files (then nothing to carry)",
        ),
    ),
)

RETRIES = LegacyTable(
    "repository",
    "retry_policies",
    "retry_policies",
    (
        mapped("workflow_id", Kind.TEXT, "retry_policies.workflow_id"),
        typed(
            "config",
            Kind.DOCUMENT,
            "retry_policies.policy",
            mapped("max_attempts", Kind.INT, "retry_policies.policy.max_attempts"),
            mapped(
                "initial_delay_seconds", Kind.NUMBER, "retry_policies.policy.initial_delay_seconds"
            ),
            mapped("backoff_factor", Kind.NUMBER, "retry_policies.policy.backoff_factor"),
            mapped(
                "max_delay_seconds",
                Kind.NUMBER,
                "retry_policies.policy.max_delay_seconds",
                "null means no ceiling, and stays null",
            ),
            mapped("jitter_factor", Kind.NUMBER, "retry_policies.policy.jitter_factor"),
        ),
    ),
)

SUBSCRIPTIONS = LegacyTable(
    "repository",
    "listener_subscriptions",
    "listener_subscriptions",
    (
        *(
            mirror(name, kind, f"payload.{name}")
            for name, kind in (
                ("id", Kind.TEXT),
                ("workflow_id", Kind.TEXT),
                ("workflow_version_id", Kind.TEXT),
                ("node_name", Kind.TEXT),
                ("platform", Kind.TEXT),
                ("bot_identity_key", Kind.TEXT),
                ("status", Kind.TEXT),
                ("assigned_runtime", Kind.TEXT),
                ("lease_expires_at", Kind.TIME),
                ("last_event_at", Kind.TIME),
                ("last_error", Kind.TEXT),
                ("created_at", Kind.TIME),
                ("updated_at", Kind.TIME),
            )
        ),
        typed(
            "payload",
            Kind.DOCUMENT,
            "listener_subscriptions",
            *stamps("listener_subscriptions"),
            *(
                mapped(name, kind, f"listener_subscriptions.{name}")
                for name, kind in (
                    ("workflow_id", Kind.TEXT),
                    ("workflow_version_id", Kind.TEXT),
                    ("node_name", Kind.TEXT),
                    ("platform", Kind.TEXT),
                    ("bot_identity_key", Kind.TEXT),
                    ("config", Kind.JSON),
                    ("status", Kind.TEXT),
                    ("assigned_runtime", Kind.TEXT),
                    ("lease_expires_at", Kind.TIME),
                    ("last_event_at", Kind.TIME),
                    ("last_error", Kind.TEXT),
                )
            ),
        ),
    ),
)

CURSOR_POSITIONS = (
    ("telegram_offset", Kind.INT),
    ("discord_session_id", Kind.TEXT),
    ("discord_sequence", Kind.INT),
    ("discord_resume_gateway_url", Kind.TEXT),
    ("qq_session_id", Kind.TEXT),
    ("qq_sequence", Kind.INT),
    ("qq_resume_gateway_url", Kind.TEXT),
)
"""The platform positions of a listener cursor, carried as keys of the cursor's ``fields``."""

CURSORS = LegacyTable(
    "repository",
    "listener_cursors",
    "listener_cursors",
    (
        mirror("subscription_id", Kind.TEXT, "payload.subscription_id"),
        mirror("updated_at", Kind.TIME, "payload.updated_at"),
        typed(
            "payload",
            Kind.DOCUMENT,
            "listener_cursors",
            mapped("subscription_id", Kind.TEXT, "listener_cursors.subscription_id"),
            *(
                mapped(name, kind, f"listener_cursors.fields.{name}")
                for name, kind in CURSOR_POSITIONS
            ),
            mapped("metadata", Kind.JSON, "listener_cursors.metadata"),
            mapped("updated_at", Kind.TIME, "listener_cursors.updated_at"),
        ),
    ),
)

DEDUPE = LegacyTable(
    "repository",
    "listener_dedupe",
    "listener_dedupe",
    (
        mirror("subscription_id", Kind.TEXT, "payload.subscription_id"),
        mirror("dedupe_key", Kind.TEXT, "payload.dedupe_key"),
        mirror("expires_at", Kind.TIME, "payload.expires_at"),
        typed(
            "payload",
            Kind.DOCUMENT,
            "listener_dedupe",
            mapped("subscription_id", Kind.TEXT, "listener_dedupe.subscription_id"),
            mapped("dedupe_key", Kind.TEXT, "listener_dedupe.dedupe_key"),
            mapped("created_at", Kind.TIME, "listener_dedupe.created_at"),
            mapped("expires_at", Kind.TIME, "listener_dedupe.expires_at"),
        ),
    ),
)

HISTORIES = LegacyTable(
    "repository",
    "execution_history",
    "run_histories",
    tuple(
        mapped(name, kind, f"run_histories.{name}")
        for name, kind in (
            ("execution_id", Kind.TEXT),
            ("workflow_id", Kind.TEXT),
            ("inputs", Kind.JSON_TEXT),
            ("runnable_config", Kind.JSON_TEXT),
            ("tags", Kind.JSON_TEXT),
            ("callbacks", Kind.JSON_TEXT),
            ("metadata", Kind.JSON_TEXT),
            ("run_name", Kind.TEXT),
            ("status", Kind.TEXT),
            ("started_at", Kind.TIME),
            ("completed_at", Kind.TIME),
            ("error", Kind.TEXT),
            ("trace_id", Kind.TEXT),
            ("trace_started_at", Kind.TIME),
            ("trace_completed_at", Kind.TIME),
            ("trace_last_span_at", Kind.TIME),
        )
    ),
)

STEPS = LegacyTable(
    "repository",
    "execution_history_steps",
    "run_history_steps",
    (
        mapped("execution_id", Kind.TEXT, "run_history_steps.execution_id"),
        mapped("step_index", Kind.INT, "run_history_steps.index"),
        mapped("at", Kind.TIME, "run_history_steps.at"),
        mapped("payload", Kind.JSON_TEXT, "run_history_steps.payload"),
    ),
)

CHECKPOINTS = LegacyTable(
    "repository",
    "agentensor_checkpoints",
    "agentensor_checkpoints",
    tuple(
        mapped(name, kind, f"agentensor_checkpoints.{name}")
        for name, kind in (
            ("id", Kind.TEXT),
            ("workflow_id", Kind.TEXT),
            ("config_version", Kind.INT),
            ("runnable_config", Kind.JSON_TEXT),
            ("metrics", Kind.JSON_TEXT),
            ("metadata", Kind.JSON_TEXT),
            ("artifact_url", Kind.TEXT),
            ("is_best", Kind.BOOL),
            ("created_at", Kind.TIME),
        )
    ),
)
