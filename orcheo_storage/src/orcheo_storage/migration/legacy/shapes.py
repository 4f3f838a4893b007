"""What today's Orcheo may store in each legacy column and JSON key, and where each goes.

This is the field-level accounting of the legacy migration, as data: every column of
every legacy table, and every key of every JSON document Orcheo writes there, is listed
with its fate. The keys are those Orcheo's own models allow (they forbid extra fields, so
a payload holds exactly these), older key names included; the examples in the test corpus
are instances of these shapes, not their definition.

Fates:

- ``mapped``: carried into the named target field, value unchanged (timestamps as the
  same instant in UTC).
- ``derived``: the target value is computed from it, as the note says.
- ``mirror``: a copy Orcheo keeps of another legacy field for its own indexes; the field
  it copies is carried, and Orcheo itself reads that one.
- ``dropped``: not carried; the note says why no information is lost.

Anything not listed here (a key a newer Orcheo added, a hand edit) stops the migration
unless the operator names it with ``--allow-loss``. :func:`mapping_table` renders this
module as the mapping table in ``docs/legacy-mapping.md``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass


class Fate(enum.StrEnum):
    MAPPED = "mapped"
    DERIVED = "derived"
    MIRROR = "mirror"
    DROPPED = "dropped"


class Kind(enum.StrEnum):
    """The JSON (or column) type a legacy field holds; ``None`` is always allowed."""

    TEXT = "text"
    INT = "int"
    NUMBER = "number"
    BOOL = "bool"  # JSON true/false, or INTEGER 0/1 in a column
    TIME = "time"  # ISO-8601 text
    LIST = "list"  # a list of scalars
    JSON = "json"  # any JSON value, kept whole (free-form documents)
    JSON_TEXT = "json text"  # a TEXT column holding any JSON value, kept whole
    OBJECT = "object"  # a typed object: its keys are listed (``fields``)
    OBJECTS = "objects"  # a list of typed objects (``fields`` describe each)
    DOCUMENT = "document"  # a TEXT column holding a typed JSON object (``fields``)


@dataclass(frozen=True)
class Field:
    """One legacy column or JSON key.

    Attributes:
        name: the column or key name.
        kind: what it holds.
        fate: see the module docstring.
        to: the target field (``logical_table.field``), or for a mirror the legacy field
            it copies.
        note: why (required for ``derived`` and ``dropped``).
        fields: the keys of an ``object`` / ``objects`` / ``document``.
    """

    name: str
    kind: Kind
    fate: Fate
    to: str = ""
    note: str = ""
    fields: tuple[Field, ...] = ()

    def child(self, name: str) -> Field | None:
        for field in self.fields:
            if field.name == name:
                return field
        return None


@dataclass(frozen=True)
class LegacyTable:
    """A legacy table: its file, name, the logical table(s) it feeds, and its columns."""

    file: str
    name: str
    logical: str
    columns: tuple[Field, ...]

    def column(self, name: str) -> Field | None:
        for field in self.columns:
            if field.name == name:
                return field
        return None


def _m(name: str, kind: Kind, to: str, note: str = "") -> Field:
    return Field(name, kind, Fate.MAPPED, to, note)


def _mirror(name: str, kind: Kind, of: str) -> Field:
    return Field(name, kind, Fate.MIRROR, of)


def _derived(name: str, kind: Kind, to: str, note: str) -> Field:
    return Field(name, kind, Fate.DERIVED, to, note)


def _dropped(name: str, kind: Kind, note: str) -> Field:
    return Field(name, kind, Fate.DROPPED, "", note)


def _obj(name: str, kind: Kind, to: str, *fields: Field, note: str = "") -> Field:
    return Field(name, kind, Fate.MAPPED, to, note, tuple(fields))


def _audit(table: str) -> Field:
    return _obj(
        "audit_log",
        Kind.OBJECTS,
        f"{table}.audit_log",
        _m("actor", Kind.TEXT, f"{table}.audit_log[].actor"),
        _m("action", Kind.TEXT, f"{table}.audit_log[].action"),
        _m("at", Kind.TIME, f"{table}.audit_log[].at"),
        _m("metadata", Kind.JSON, f"{table}.audit_log[].metadata"),
    )


def _stamps(table: str) -> tuple[Field, ...]:
    return (
        _m("id", Kind.TEXT, f"{table}.id"),
        _m("created_at", Kind.TIME, f"{table}.created_at"),
        _m("updated_at", Kind.TIME, f"{table}.updated_at"),
        _audit(table),
    )


def _scope(to: str) -> Field:
    return _obj(
        "scope",
        Kind.OBJECT,
        to,
        _m("workflow_ids", Kind.LIST, f"{to}.workflow_ids"),
        _m("workspace_ids", Kind.LIST, f"{to}.workspace_ids"),
        _m("roles", Kind.LIST, f"{to}.roles"),
        note="Orcheo calls the access scope `scope`",
    )


_ENVELOPE = (
    _m("algorithm", Kind.TEXT, "", "aes256-gcm.v1 (the only cipher Orcheo's file vault writes)"),
    _m("key_id", Kind.TEXT, "", "names the key; the secret is re-sealed under the target key"),
    _m("ciphertext", Kind.TEXT, "", "decrypted with today's key, sealed again for the target"),
)

_MIRROR_NOTE = "copy of the payload key; Orcheo reads the payload"

WORKFLOWS = LegacyTable(
    "repository",
    "workflows",
    "workflows",
    (
        _mirror("id", Kind.TEXT, "payload.id"),
        _mirror("handle", Kind.TEXT, "payload.handle"),
        _mirror("is_archived", Kind.BOOL, "payload.is_archived"),
        _mirror("created_at", Kind.TIME, "payload.created_at"),
        _mirror("updated_at", Kind.TIME, "payload.updated_at"),
        _obj(
            "payload",
            Kind.DOCUMENT,
            "workflows",
            *_stamps("workflows"),
            _m("name", Kind.TEXT, "workflows.name"),
            _m("handle", Kind.TEXT, "workflows.handle"),
            _m("slug", Kind.TEXT, "workflows.slug"),
            _m("description", Kind.TEXT, "workflows.description"),
            _m("tags", Kind.LIST, "workflows.tags"),
            _m("is_archived", Kind.BOOL, "workflows.is_archived"),
            _derived(
                "draft_access",
                Kind.TEXT,
                "workflows.draft_access",
                "when absent (older payloads): `workspace` if a tag starts with `workspace:`, "
                "else `personal` (Orcheo's own backfill)",
            ),
            _m("is_public", Kind.BOOL, "workflows.publication.is_public"),
            _m("published_at", Kind.TIME, "workflows.publication.published_at"),
            _m("published_by", Kind.TEXT, "workflows.publication.published_by"),
            _m("require_login", Kind.BOOL, "workflows.publication.require_login"),
            _m("share_url", Kind.TEXT, "workflows.share_url"),
            _obj(
                "chatkit",
                Kind.OBJECT,
                "workflows.chat",
                _m("start_screen_prompts", Kind.JSON, "workflows.chat.start_screen_prompts"),
                _m("supported_models", Kind.JSON, "workflows.chat.supported_models"),
            ),
            _derived(
                "chatkit_start_screen_prompts",
                Kind.JSON,
                "workflows.chat.start_screen_prompts",
                "older top-level key, folded into `chat` unless `chatkit` is set (as Orcheo does)",
            ),
            _derived(
                "chatkit_supported_models",
                Kind.JSON,
                "workflows.chat.supported_models",
                "older top-level key, folded into `chat` unless `chatkit` is set (as Orcheo does)",
            ),
            _dropped(
                "publish_token_hash",
                Kind.TEXT,
                "older publish-token scheme; Orcheo discards it when it reads the workflow",
            ),
            _dropped(
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
        _mirror("id", Kind.TEXT, "payload.id"),
        _mirror("workflow_id", Kind.TEXT, "payload.workflow_id"),
        _mirror("version", Kind.INT, "payload.version"),
        _mirror("created_at", Kind.TIME, "payload.created_at"),
        _mirror("updated_at", Kind.TIME, "payload.updated_at"),
        _obj(
            "payload",
            Kind.DOCUMENT,
            "workflow_versions",
            *_stamps("workflow_versions"),
            _m("workflow_id", Kind.TEXT, "workflow_versions.workflow_id"),
            _m("version", Kind.INT, "workflow_versions.version"),
            _derived(
                "graph",
                Kind.JSON,
                "workflow_versions.graph",
                "kept whole; `checksum` is computed from it by Orcheo's rule (Orcheo stores "
                "no checksum), so it equals the one Orcheo's clients compute",
            ),
            _m("mermaid", Kind.TEXT, "workflow_versions.mermaid"),
            _m("metadata", Kind.JSON, "workflow_versions.metadata"),
            _m("runnable_config", Kind.JSON, "workflow_versions.runnable_config"),
            _m("created_by", Kind.TEXT, "workflow_versions.created_by"),
            _m("notes", Kind.TEXT, "workflow_versions.notes"),
        ),
    ),
)

RUNS = LegacyTable(
    "repository",
    "workflow_runs",
    "workflow_runs",
    (
        _mirror("id", Kind.TEXT, "payload.id"),
        _m("workflow_id", Kind.TEXT, "workflow_runs.workflow_id", "only the column holds it"),
        _mirror("workflow_version_id", Kind.TEXT, "payload.workflow_version_id"),
        _mirror("status", Kind.TEXT, "payload.status"),
        _mirror("triggered_by", Kind.TEXT, "payload.triggered_by"),
        _mirror("created_at", Kind.TIME, "payload.created_at"),
        _mirror("updated_at", Kind.TIME, "payload.updated_at"),
        _obj(
            "payload",
            Kind.DOCUMENT,
            "workflow_runs",
            *_stamps("workflow_runs"),
            _m("workflow_version_id", Kind.TEXT, "workflow_runs.workflow_version_id"),
            _m("status", Kind.TEXT, "workflow_runs.status"),
            _m("triggered_by", Kind.TEXT, "workflow_runs.triggered_by"),
            _m("input_payload", Kind.JSON, "workflow_runs.input_payload"),
            _m("runnable_config", Kind.JSON, "workflow_runs.runnable_config"),
            _m("tags", Kind.LIST, "workflow_runs.tags"),
            _m("callbacks", Kind.JSON, "workflow_runs.callbacks"),
            _m("metadata", Kind.JSON, "workflow_runs.metadata"),
            _m("run_name", Kind.TEXT, "workflow_runs.run_name"),
            _m("output_payload", Kind.JSON, "workflow_runs.output_payload"),
            _m("started_at", Kind.TIME, "workflow_runs.started_at"),
            _m("completed_at", Kind.TIME, "workflow_runs.completed_at"),
            _m("error", Kind.TEXT, "workflow_runs.error"),
        ),
    ),
)

REMEDIATIONS = LegacyTable(
    "repository",
    "workflow_run_remediations",
    "remediation_candidates",
    (
        *(
            _mirror(name, kind, f"payload.{name}")
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
        _obj(
            "payload",
            Kind.DOCUMENT,
            "remediation_candidates",
            *_stamps("remediation_candidates"),
            *(
                _m(name, kind, f"remediation_candidates.{name}")
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
        _m("workflow_id", Kind.TEXT, "webhook_triggers.workflow_id"),
        _obj(
            "config",
            Kind.DOCUMENT,
            "webhook_triggers.config",
            _m("allowed_methods", Kind.LIST, "webhook_triggers.config.allowed_methods"),
            _m("required_headers", Kind.JSON, "webhook_triggers.config.required_headers"),
            _m("required_query_params", Kind.JSON, "webhook_triggers.config.required_query_params"),
            _m("shared_secret_header", Kind.TEXT, "webhook_triggers.config.shared_secret_header"),
            _derived(
                "secret_header",
                Kind.TEXT,
                "webhook_triggers.config.shared_secret_header",
                "the model's alias of `shared_secret_header` (Orcheo accepts both)",
            ),
            _m(
                "shared_secret",
                Kind.TEXT,
                "webhook_triggers.config.shared_secret",
                "plain text today; sealed under the target's vault key",
            ),
            _m("hmac_header", Kind.TEXT, "webhook_triggers.config.hmac_header"),
            _m(
                "hmac_secret",
                Kind.TEXT,
                "webhook_triggers.config.hmac_secret",
                "plain text today; sealed under the target's vault key",
            ),
            _m("hmac_algorithm", Kind.TEXT, "webhook_triggers.config.hmac_algorithm"),
            _m("hmac_timestamp_header", Kind.TEXT, "webhook_triggers.config.hmac_timestamp_header"),
            _m(
                "hmac_tolerance_seconds", Kind.INT, "webhook_triggers.config.hmac_tolerance_seconds"
            ),
            _obj(
                "rate_limit",
                Kind.OBJECT,
                "webhook_triggers.config.rate_limit",
                _m("limit", Kind.INT, "webhook_triggers.config.rate_limit.limit"),
                _m(
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
        _m("workflow_id", Kind.TEXT, "cron_triggers.workflow_id"),
        _obj(
            "config",
            Kind.DOCUMENT,
            "cron_triggers.config",
            _m("expression", Kind.TEXT, "cron_triggers.config.expression"),
            _m("timezone", Kind.TEXT, "cron_triggers.config.timezone"),
            _m("allow_overlapping", Kind.BOOL, "cron_triggers.config.allow_overlapping"),
            _m("start_at", Kind.TIME, "cron_triggers.config.start_at"),
            _m("end_at", Kind.TIME, "cron_triggers.config.end_at"),
        ),
        _m(
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
        _m("workflow_id", Kind.TEXT, "retry_policies.workflow_id"),
        _obj(
            "config",
            Kind.DOCUMENT,
            "retry_policies.policy",
            _m("max_attempts", Kind.INT, "retry_policies.policy.max_attempts"),
            _m("initial_delay_seconds", Kind.NUMBER, "retry_policies.policy.initial_delay_seconds"),
            _m("backoff_factor", Kind.NUMBER, "retry_policies.policy.backoff_factor"),
            _m(
                "max_delay_seconds",
                Kind.NUMBER,
                "retry_policies.policy.max_delay_seconds",
                "null means no ceiling, and stays null",
            ),
            _m("jitter_factor", Kind.NUMBER, "retry_policies.policy.jitter_factor"),
        ),
    ),
)

SUBSCRIPTIONS = LegacyTable(
    "repository",
    "listener_subscriptions",
    "listener_subscriptions",
    (
        *(
            _mirror(name, kind, f"payload.{name}")
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
        _obj(
            "payload",
            Kind.DOCUMENT,
            "listener_subscriptions",
            *_stamps("listener_subscriptions"),
            *(
                _m(name, kind, f"listener_subscriptions.{name}")
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
        _mirror("subscription_id", Kind.TEXT, "payload.subscription_id"),
        _mirror("updated_at", Kind.TIME, "payload.updated_at"),
        _obj(
            "payload",
            Kind.DOCUMENT,
            "listener_cursors",
            _m("subscription_id", Kind.TEXT, "listener_cursors.subscription_id"),
            *(_m(name, kind, f"listener_cursors.fields.{name}") for name, kind in CURSOR_POSITIONS),
            _m("metadata", Kind.JSON, "listener_cursors.metadata"),
            _m("updated_at", Kind.TIME, "listener_cursors.updated_at"),
        ),
    ),
)

DEDUPE = LegacyTable(
    "repository",
    "listener_dedupe",
    "listener_dedupe",
    (
        _mirror("subscription_id", Kind.TEXT, "payload.subscription_id"),
        _mirror("dedupe_key", Kind.TEXT, "payload.dedupe_key"),
        _mirror("expires_at", Kind.TIME, "payload.expires_at"),
        _obj(
            "payload",
            Kind.DOCUMENT,
            "listener_dedupe",
            _m("subscription_id", Kind.TEXT, "listener_dedupe.subscription_id"),
            _m("dedupe_key", Kind.TEXT, "listener_dedupe.dedupe_key"),
            _m("created_at", Kind.TIME, "listener_dedupe.created_at"),
            _m("expires_at", Kind.TIME, "listener_dedupe.expires_at"),
        ),
    ),
)

HISTORIES = LegacyTable(
    "repository",
    "execution_history",
    "run_histories",
    tuple(
        _m(name, kind, f"run_histories.{name}")
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
        _m("execution_id", Kind.TEXT, "run_history_steps.execution_id"),
        _m("step_index", Kind.INT, "run_history_steps.index"),
        _m("at", Kind.TIME, "run_history_steps.at"),
        _m("payload", Kind.JSON_TEXT, "run_history_steps.payload"),
    ),
)

CHECKPOINTS = LegacyTable(
    "repository",
    "agentensor_checkpoints",
    "agentensor_checkpoints",
    tuple(
        _m(name, kind, f"agentensor_checkpoints.{name}")
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

THREADS = LegacyTable(
    "chatkit",
    "chat_threads",
    "chat_threads",
    (
        _m("id", Kind.TEXT, "chat_threads.id"),
        _m("title", Kind.TEXT, "chat_threads.title"),
        _m(
            "workflow_id",
            Kind.TEXT,
            "chat_threads.workflow_id",
            "else `metadata_json.workflow_id`",
        ),
        _m("status_json", Kind.JSON_TEXT, "chat_threads.status", "a ChatKit thread status"),
        _m(
            "metadata_json",
            Kind.JSON_TEXT,
            "chat_threads.metadata",
            "kept whole; `allowed_image_domains` also read from it",
        ),
        _m("created_at", Kind.TIME, "chat_threads.created_at"),
        _m("updated_at", Kind.TIME, "chat_threads.updated_at"),
    ),
)

ITEMS = LegacyTable(
    "chatkit",
    "chat_messages",
    "chat_items",
    (
        _m("id", Kind.TEXT, "chat_items.id"),
        _m(
            "thread_id",
            Kind.TEXT,
            "chat_items.thread_id",
            "in very old files only inside `item_json` (`thread_id`, `threadId` or "
            "`metadata.thread_id`)",
        ),
        _m("ordinal", Kind.INT, "chat_items.ordinal"),
        _mirror("item_type", Kind.TEXT, "item_json.type"),
        _m("item_json", Kind.JSON_TEXT, "chat_items.item", "a ChatKit thread item, kept whole"),
        _m("created_at", Kind.TIME, "chat_items.created_at"),
    ),
)

ATTACHMENTS = LegacyTable(
    "chatkit",
    "chat_attachments",
    "chat_attachments",
    (
        _m("id", Kind.TEXT, "chat_attachments.id"),
        _m("thread_id", Kind.TEXT, "chat_attachments.thread_id", "null for unbound uploads"),
        _mirror("attachment_type", Kind.TEXT, "details_json.type"),
        _mirror("name", Kind.TEXT, "details_json.name"),
        _mirror("mime_type", Kind.TEXT, "details_json.mime_type"),
        _m(
            "details_json",
            Kind.JSON_TEXT,
            "chat_attachments.attachment",
            "a ChatKit attachment, kept whole",
        ),
        _m("storage_path", Kind.TEXT, "chat_attachments.storage_path"),
        _m("created_at", Kind.TIME, "chat_attachments.created_at"),
    ),
)

TOKENS = LegacyTable(
    "tokens",
    "service_tokens",
    "service_tokens",
    tuple(
        _m(name, kind, f"service_tokens.{name}")
        for name, kind in (
            ("identifier", Kind.TEXT),
            ("secret_hash", Kind.TEXT),
            ("scopes", Kind.JSON_TEXT),
            ("workspace_ids", Kind.JSON_TEXT),
            ("created_at", Kind.TIME),
            ("created_by", Kind.TEXT),
            ("issued_at", Kind.TIME),
            ("expires_at", Kind.TIME),
            ("last_used_at", Kind.TIME),
            ("use_count", Kind.INT),
            ("rotation_expires_at", Kind.TIME),
            ("rotated_to", Kind.TEXT),
            ("rotated_from", Kind.TEXT),
            ("revoked_at", Kind.TIME),
            ("revoked_by", Kind.TEXT),
            ("revocation_reason", Kind.TEXT),
            ("allowed_ip_ranges", Kind.JSON_TEXT),
            ("rate_limit_override", Kind.INT),
        )
    ),
)

TOKEN_AUDIT = LegacyTable(
    "tokens",
    "service_token_audit_log",
    "service_token_audit",
    (
        _m("id", Kind.INT, "service_token_audit.seq", "the insertion order"),
        _m("token_id", Kind.TEXT, "service_token_audit.token_id"),
        _m("action", Kind.TEXT, "service_token_audit.action"),
        _m("actor", Kind.TEXT, "service_token_audit.actor"),
        _m("ip_address", Kind.TEXT, "service_token_audit.ip"),
        _m("user_agent", Kind.TEXT, "service_token_audit.user_agent"),
        _m("timestamp", Kind.TIME, "service_token_audit.timestamp"),
        _m("details", Kind.JSON_TEXT, "service_token_audit.details"),
    ),
)

_HINT_NOTE = "Orcheo's index of the scope (a workflow/workspace id, a role or GLOBAL)"

CREDENTIALS = LegacyTable(
    "vault",
    "credentials",
    "vault_credentials",
    (
        _mirror("id", Kind.TEXT, "payload.id"),
        Field("workflow_id", Kind.TEXT, Fate.MIRROR, "payload.scope", _HINT_NOTE),
        _mirror("name", Kind.TEXT, "payload.name"),
        _mirror("provider", Kind.TEXT, "payload.provider"),
        _mirror("created_at", Kind.TIME, "payload.created_at"),
        _mirror("updated_at", Kind.TIME, "payload.updated_at"),
        _obj(
            "payload",
            Kind.DOCUMENT,
            "vault_credentials",
            *_stamps("vault_credentials.credential"),
            _m("name", Kind.TEXT, "vault_credentials.credential.name"),
            _m("provider", Kind.TEXT, "vault_credentials.credential.provider"),
            _m("scopes", Kind.LIST, "vault_credentials.credential.scopes"),
            _scope("vault_credentials.credential.access"),
            _obj(
                "encryption",
                Kind.OBJECT,
                "vault_credentials.secret",
                *_ENVELOPE,
                note="the secret, re-sealed bound to the credential id",
            ),
            _m("kind", Kind.TEXT, "vault_credentials.credential.kind"),
            _obj(
                "oauth_tokens",
                Kind.OBJECT,
                "vault_credentials.oauth_tokens",
                _obj("access_token", Kind.OBJECT, "vault_credentials.oauth_tokens", *_ENVELOPE),
                _obj("refresh_token", Kind.OBJECT, "vault_credentials.oauth_tokens", *_ENVELOPE),
                _m(
                    "expires_at",
                    Kind.TIME,
                    "vault_credentials.credential.oauth_expires_at",
                    "also kept inside the sealed token document",
                ),
                note="each token decrypted, the three sealed together as one document",
            ),
            _obj(
                "health",
                Kind.OBJECT,
                "vault_credentials.credential",
                _m("status", Kind.TEXT, "vault_credentials.credential.health_status"),
                _m("last_checked_at", Kind.TIME, "vault_credentials.credential.health_checked_at"),
                _m("failure_reason", Kind.TEXT, "vault_credentials.credential.health_reason"),
            ),
            _m("last_rotated_at", Kind.TIME, "vault_credentials.credential.last_rotated_at"),
            _m("template_id", Kind.TEXT, "vault_credentials.credential.template_id"),
        ),
    ),
)

TEMPLATES = LegacyTable(
    "vault",
    "credential_templates",
    "vault_templates",
    (
        _mirror("id", Kind.TEXT, "payload.id"),
        Field("scope_hint", Kind.TEXT, Fate.MIRROR, "payload.scope", _HINT_NOTE),
        _mirror("name", Kind.TEXT, "payload.name"),
        _mirror("provider", Kind.TEXT, "payload.provider"),
        _mirror("created_at", Kind.TIME, "payload.created_at"),
        _mirror("updated_at", Kind.TIME, "payload.updated_at"),
        _obj(
            "payload",
            Kind.DOCUMENT,
            "vault_templates",
            *_stamps("vault_templates"),
            _m("name", Kind.TEXT, "vault_templates.name"),
            _m("provider", Kind.TEXT, "vault_templates.provider"),
            _m("description", Kind.TEXT, "vault_templates.description"),
            _m("scopes", Kind.LIST, "vault_templates.scopes"),
            _scope("vault_templates.access"),
            _m("kind", Kind.TEXT, "vault_templates.kind"),
            _m("issuance_policy", Kind.JSON, "vault_templates.issuance_policy"),
        ),
    ),
)

ALERTS = LegacyTable(
    "vault",
    "governance_alerts",
    "vault_alerts",
    (
        _mirror("id", Kind.TEXT, "payload.id"),
        Field("scope_hint", Kind.TEXT, Fate.MIRROR, "payload.scope", _HINT_NOTE),
        _mirror("acknowledged", Kind.BOOL, "payload.is_acknowledged"),
        _mirror("created_at", Kind.TIME, "payload.created_at"),
        _mirror("updated_at", Kind.TIME, "payload.updated_at"),
        _obj(
            "payload",
            Kind.DOCUMENT,
            "vault_alerts",
            *_stamps("vault_alerts"),
            _scope("vault_alerts.access"),
            _m("template_id", Kind.TEXT, "vault_alerts.template_id"),
            _m("credential_id", Kind.TEXT, "vault_alerts.credential_id"),
            _m("kind", Kind.TEXT, "vault_alerts.kind"),
            _m("severity", Kind.TEXT, "vault_alerts.severity"),
            _m("message", Kind.TEXT, "vault_alerts.message"),
            _m("is_acknowledged", Kind.BOOL, "vault_alerts.acknowledged"),
            _m("acknowledged_at", Kind.TIME, "vault_alerts.acknowledged_at"),
            _m("acknowledged_by", Kind.TEXT, "vault_alerts.acknowledged_by"),
        ),
    ),
)

LEGACY_TABLES: tuple[LegacyTable, ...] = (
    WORKFLOWS,
    VERSIONS,
    RUNS,
    REMEDIATIONS,
    WEBHOOKS,
    CRONS,
    RETRIES,
    SUBSCRIPTIONS,
    CURSORS,
    DEDUPE,
    HISTORIES,
    STEPS,
    CHECKPOINTS,
    THREADS,
    ITEMS,
    ATTACHMENTS,
    TOKENS,
    TOKEN_AUDIT,
    CREDENTIALS,
    TEMPLATES,
    ALERTS,
)
SHAPES: dict[tuple[str, str], LegacyTable] = {(t.file, t.name): t for t in LEGACY_TABLES}


def walk(fields: tuple[Field, ...], prefix: str) -> Iterator[tuple[str, Field]]:
    """Every field with its path (``payload.health.status``, ``payload.audit_log[].at``)."""
    for field in fields:
        path = f"{prefix}.{field.name}" if prefix else field.name
        yield path, field
        inner = f"{path}[]" if field.kind is Kind.OBJECTS else path
        yield from walk(field.fields, inner)


def mapping_table() -> str:
    """The accounting as a Markdown table, one row per legacy column or JSON key."""
    lines = [
        "| legacy file | table | column or JSON key | fate | target | note |",
        "|---|---|---|---|---|---|",
    ]
    files = {
        "repository": "workflows.sqlite",
        "chatkit": "chatkit.sqlite",
        "tokens": "service_tokens.sqlite",
        "vault": "vault.sqlite",
    }
    for table in LEGACY_TABLES:
        for path, field in walk(table.columns, ""):
            to = field.to if field.fate is not Fate.MIRROR else f"(copy of `{field.to}`)"
            note = field.note or (_MIRROR_NOTE if field.fate is Fate.MIRROR else "")
            lines.append(
                f"| {files[table.file]} | {table.name} | `{path}` | {field.fate.value} "
                f"| {f'`{to}`' if to and field.fate is not Fate.MIRROR else to} | {note} |"
            )
    return "\n".join(lines) + "\n"
