"""Shapes of the tables in ``chatkit.sqlite``, ``service_tokens.sqlite`` and ``vault.sqlite``."""

from __future__ import annotations

from orcheo_storage.migration.legacy.fields import (
    Fate,
    Field,
    Kind,
    LegacyTable,
    mapped,
    mirror,
    scope_field,
    stamps,
    typed,
)

_ENVELOPE = (
    mapped(
        "algorithm", Kind.TEXT, "", "aes256-gcm.v1 (the only cipher Orcheo's file vault writes)"
    ),
    mapped("key_id", Kind.TEXT, "", "names the key; the secret is re-sealed under the target key"),
    mapped("ciphertext", Kind.TEXT, "", "decrypted with today's key, sealed again for the target"),
)


THREADS = LegacyTable(
    "chatkit",
    "chat_threads",
    "chat_threads",
    (
        mapped("id", Kind.TEXT, "chat_threads.id"),
        mapped("title", Kind.TEXT, "chat_threads.title"),
        mapped(
            "workflow_id",
            Kind.TEXT,
            "chat_threads.workflow_id",
            "else `metadata_json.workflow_id`",
        ),
        mapped("status_json", Kind.JSON_TEXT, "chat_threads.status", "a ChatKit thread status"),
        mapped(
            "metadata_json",
            Kind.JSON_TEXT,
            "chat_threads.metadata",
            "kept whole; `allowed_image_domains` also read from it",
        ),
        mapped("created_at", Kind.TIME, "chat_threads.created_at"),
        mapped("updated_at", Kind.TIME, "chat_threads.updated_at"),
    ),
)

ITEMS = LegacyTable(
    "chatkit",
    "chat_messages",
    "chat_items",
    (
        mapped("id", Kind.TEXT, "chat_items.id"),
        mapped(
            "thread_id",
            Kind.TEXT,
            "chat_items.thread_id",
            "in very old files only inside `item_json` (`thread_id`, `threadId` or "
            "`metadata.thread_id`)",
        ),
        mapped("ordinal", Kind.INT, "chat_items.ordinal"),
        mirror("item_type", Kind.TEXT, "item_json.type"),
        mapped("item_json", Kind.JSON_TEXT, "chat_items.item", "a ChatKit thread item, kept whole"),
        mapped("created_at", Kind.TIME, "chat_items.created_at"),
    ),
)

ATTACHMENTS = LegacyTable(
    "chatkit",
    "chat_attachments",
    "chat_attachments",
    (
        mapped("id", Kind.TEXT, "chat_attachments.id"),
        mapped("thread_id", Kind.TEXT, "chat_attachments.thread_id", "null for unbound uploads"),
        mirror("attachment_type", Kind.TEXT, "details_json.type"),
        mirror("name", Kind.TEXT, "details_json.name"),
        mirror("mime_type", Kind.TEXT, "details_json.mime_type"),
        mapped(
            "details_json",
            Kind.JSON_TEXT,
            "chat_attachments.attachment",
            "a ChatKit attachment, kept whole",
        ),
        mapped("storage_path", Kind.TEXT, "chat_attachments.storage_path"),
        mapped("created_at", Kind.TIME, "chat_attachments.created_at"),
    ),
)

_EMPTY_SET = "a JSON list; NULL (how Orcheo writes an empty set) becomes []"
TOKENS = LegacyTable(
    "tokens",
    "service_tokens",
    "service_tokens",
    tuple(
        mapped(name, kind, f"service_tokens.{name}", note)
        for name, kind, note in (
            ("identifier", Kind.TEXT, ""),
            ("secret_hash", Kind.TEXT, "the SHA-256 of the secret; the secret is never stored"),
            ("scopes", Kind.JSON_TEXT, _EMPTY_SET),
            ("workspace_ids", Kind.JSON_TEXT, _EMPTY_SET),
            ("created_at", Kind.TIME, ""),
            ("created_by", Kind.TEXT, ""),
            ("issued_at", Kind.TIME, "NULL (never written by today's Orcheo) takes created_at"),
            ("expires_at", Kind.TIME, ""),
            ("last_used_at", Kind.TIME, ""),
            ("use_count", Kind.INT, "NULL becomes 0"),
            ("rotation_expires_at", Kind.TIME, ""),
            ("rotated_to", Kind.TEXT, ""),
            ("rotated_from", Kind.TEXT, ""),
            ("revoked_at", Kind.TIME, ""),
            ("revoked_by", Kind.TEXT, ""),
            ("revocation_reason", Kind.TEXT, ""),
            ("allowed_ip_ranges", Kind.JSON_TEXT, ""),
            ("rate_limit_override", Kind.INT, ""),
        )
    ),
)

TOKEN_AUDIT = LegacyTable(
    "tokens",
    "service_token_audit_log",
    "service_token_audit",
    (
        mapped("id", Kind.INT, "service_token_audit.seq", "the insertion order"),
        mapped("token_id", Kind.TEXT, "service_token_audit.token_id"),
        mapped("action", Kind.TEXT, "service_token_audit.action"),
        mapped("actor", Kind.TEXT, "service_token_audit.actor"),
        mapped("ip_address", Kind.TEXT, "service_token_audit.ip"),
        mapped("user_agent", Kind.TEXT, "service_token_audit.user_agent"),
        mapped("timestamp", Kind.TIME, "service_token_audit.timestamp"),
        mapped("details", Kind.JSON_TEXT, "service_token_audit.details"),
    ),
)

_HINT_NOTE = "Orcheo's index of the scope (a workflow/workspace id, a role or GLOBAL)"

CREDENTIALS = LegacyTable(
    "vault",
    "credentials",
    "vault_credentials",
    (
        mirror("id", Kind.TEXT, "payload.id"),
        Field("workflow_id", Kind.TEXT, Fate.MIRROR, "payload.scope", _HINT_NOTE),
        mirror("name", Kind.TEXT, "payload.name"),
        mirror("provider", Kind.TEXT, "payload.provider"),
        mirror("created_at", Kind.TIME, "payload.created_at"),
        mirror("updated_at", Kind.TIME, "payload.updated_at"),
        typed(
            "payload",
            Kind.DOCUMENT,
            "vault_credentials",
            *stamps("vault_credentials.credential"),
            mapped("name", Kind.TEXT, "vault_credentials.credential.name"),
            mapped("provider", Kind.TEXT, "vault_credentials.credential.provider"),
            mapped("scopes", Kind.LIST, "vault_credentials.credential.scopes"),
            scope_field("vault_credentials.credential.access"),
            typed(
                "encryption",
                Kind.OBJECT,
                "vault_credentials.secret",
                *_ENVELOPE,
                note="the secret, re-sealed bound to the credential id",
            ),
            mapped("kind", Kind.TEXT, "vault_credentials.credential.kind"),
            typed(
                "oauth_tokens",
                Kind.OBJECT,
                "vault_credentials.oauth_tokens",
                typed("access_token", Kind.OBJECT, "vault_credentials.oauth_tokens", *_ENVELOPE),
                typed("refresh_token", Kind.OBJECT, "vault_credentials.oauth_tokens", *_ENVELOPE),
                mapped(
                    "expires_at",
                    Kind.TIME,
                    "vault_credentials.credential.oauth_expires_at",
                    "also kept inside the sealed token document",
                ),
                note="each token decrypted, the three sealed together as one document",
            ),
            typed(
                "health",
                Kind.OBJECT,
                "vault_credentials.credential",
                mapped("status", Kind.TEXT, "vault_credentials.credential.health_status"),
                mapped(
                    "last_checked_at", Kind.TIME, "vault_credentials.credential.health_checked_at"
                ),
                mapped("failure_reason", Kind.TEXT, "vault_credentials.credential.health_reason"),
            ),
            mapped("last_rotated_at", Kind.TIME, "vault_credentials.credential.last_rotated_at"),
            mapped("template_id", Kind.TEXT, "vault_credentials.credential.template_id"),
        ),
    ),
)

TEMPLATES = LegacyTable(
    "vault",
    "credential_templates",
    "vault_templates",
    (
        mirror("id", Kind.TEXT, "payload.id"),
        Field("scope_hint", Kind.TEXT, Fate.MIRROR, "payload.scope", _HINT_NOTE),
        mirror("name", Kind.TEXT, "payload.name"),
        mirror("provider", Kind.TEXT, "payload.provider"),
        mirror("created_at", Kind.TIME, "payload.created_at"),
        mirror("updated_at", Kind.TIME, "payload.updated_at"),
        typed(
            "payload",
            Kind.DOCUMENT,
            "vault_templates",
            *stamps("vault_templates"),
            mapped("name", Kind.TEXT, "vault_templates.name"),
            mapped("provider", Kind.TEXT, "vault_templates.provider"),
            mapped("description", Kind.TEXT, "vault_templates.description"),
            mapped("scopes", Kind.LIST, "vault_templates.scopes"),
            scope_field("vault_templates.access"),
            mapped("kind", Kind.TEXT, "vault_templates.kind"),
            mapped("issuance_policy", Kind.JSON, "vault_templates.issuance_policy"),
        ),
    ),
)

ALERTS = LegacyTable(
    "vault",
    "governance_alerts",
    "vault_alerts",
    (
        mirror("id", Kind.TEXT, "payload.id"),
        Field("scope_hint", Kind.TEXT, Fate.MIRROR, "payload.scope", _HINT_NOTE),
        mirror("acknowledged", Kind.BOOL, "payload.is_acknowledged"),
        mirror("created_at", Kind.TIME, "payload.created_at"),
        mirror("updated_at", Kind.TIME, "payload.updated_at"),
        typed(
            "payload",
            Kind.DOCUMENT,
            "vault_alerts",
            *stamps("vault_alerts"),
            scope_field("vault_alerts.access"),
            mapped("template_id", Kind.TEXT, "vault_alerts.template_id"),
            mapped("credential_id", Kind.TEXT, "vault_alerts.credential_id"),
            mapped("kind", Kind.TEXT, "vault_alerts.kind"),
            mapped("severity", Kind.TEXT, "vault_alerts.severity"),
            mapped("message", Kind.TEXT, "vault_alerts.message"),
            mapped("is_acknowledged", Kind.BOOL, "vault_alerts.acknowledged"),
            mapped("acknowledged_at", Kind.TIME, "vault_alerts.acknowledged_at"),
            mapped("acknowledged_by", Kind.TEXT, "vault_alerts.acknowledged_by"),
        ),
    ),
)
