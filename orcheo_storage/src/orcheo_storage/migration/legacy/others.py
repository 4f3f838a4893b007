"""Mappers for ``chatkit.sqlite``, ``service_tokens.sqlite`` and ``vault.sqlite``."""

from __future__ import annotations

import functools
import json
import uuid
import warnings
from typing import Any

from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from orcheo_storage.errors import DecryptionError
from orcheo_storage.jsoncodec import JsonObject
from orcheo_storage.migration.legacy.context import MapContext, TableMap
from orcheo_storage.migration.legacy.fitting import (
    LegacyRowError,
    as_object,
    dump,
    fit,
    parse_json,
    utc_text,
)
from orcheo_storage.models.tokens import ServiceToken, TokenAuditEvent
from orcheo_storage.models.vault import (
    Credential,
    CredentialTemplate,
    EncryptedSecret,
    GovernanceAlert,
    StoredCredential,
)

# --- chat --------------------------------------------------------------------------------------


@functools.cache
def _chatkit_adapters() -> dict[str, TypeAdapter[Any]] | None:
    """ChatKit's own types, so legacy JSON takes the exact form the chat stores keep."""
    with warnings.catch_warnings():
        # openai-chatkit warns about its own widget classes when first imported.
        warnings.filterwarnings(
            "ignore", message="Direct usage of named widget classes", category=DeprecationWarning
        )
        try:
            from chatkit.types import Attachment, ThreadItem
        except ImportError:  # pragma: no cover - chatkit is an optional extra
            return None
    return {"item": TypeAdapter(ThreadItem), "attachment": TypeAdapter(Attachment)}


def _chat_json(kind: str, value: JsonObject, where: str) -> JsonObject:
    adapters = _chatkit_adapters()
    if adapters is None:
        return value
    try:
        parsed = adapters[kind].validate_python(value)
    except PydanticValidationError as exc:
        raise LegacyRowError(
            f"{where}: not a ChatKit {kind}: {exc.error_count()} error(s)"
        ) from None
    out: JsonObject = adapters[kind].dump_python(parsed, mode="json")
    return out


def thread(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    metadata = as_object(row.get("metadata_json"), "chat_threads.metadata_json")
    return {
        "id": row["id"],
        "title": row.get("title"),
        "created_at": utc_text(row.get("created_at")),
        "updated_at": utc_text(row.get("updated_at") or row.get("created_at")),
        "status": parse_json(row.get("status_json"), "chat_threads.status_json")
        or {"type": "active"},
        "allowed_image_domains": metadata.get("allowed_image_domains"),
        "metadata": metadata,
        "workflow_id": row.get("workflow_id") or metadata.get("workflow_id"),
    }


def item(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    payload = as_object(row["item_json"], "chat_messages.item_json")
    thread_id = row.get("thread_id")
    if thread_id is None:
        raise LegacyRowError("chat_messages: no thread_id in the row or its item JSON")
    payload.setdefault("thread_id", thread_id)
    return {
        "id": row["id"],
        "thread_id": thread_id,
        "ordinal": int(row["ordinal"]),
        "created_at": utc_text(row.get("created_at") or payload.get("created_at")),
        "item": _chat_json("item", payload, "chat_messages.item_json"),
    }


def attachment(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    details = as_object(row.get("details_json"), "chat_attachments.details_json")
    details.setdefault("id", row["id"])
    for column, field in (
        ("attachment_type", "type"),
        ("name", "name"),
        ("mime_type", "mime_type"),
    ):
        if row.get(column) is not None:
            details.setdefault(field, row[column])
    return {
        "id": row["id"],
        "thread_id": row.get("thread_id"),
        "storage_path": row.get("storage_path"),
        "created_at": utc_text(row.get("created_at")),
        "attachment": _chat_json("attachment", details, "chat_attachments.details_json"),
    }


# --- service tokens ------------------------------------------------------------------------------


def token(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    data: dict[str, Any] = dict(row)
    for column in ("scopes", "workspace_ids"):
        data[column] = parse_json(row.get(column), f"service_tokens.{column}") or []
    data["use_count"] = int(row.get("use_count") or 0)
    data.setdefault("issued_at", None)
    if data["issued_at"] is None:
        data["issued_at"] = row.get("created_at")
    return dump(fit(ServiceToken, data, "service_tokens", ctx.notes))


def token_event(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    data = {
        "token_id": row["token_id"],
        "action": row["action"],
        "actor": row.get("actor"),
        "ip": row.get("ip_address"),
        "user_agent": row.get("user_agent"),
        "timestamp": row["timestamp"],
        "details": as_object(row.get("details"), "service_token_audit_log.details"),
    }
    return dump(fit(TokenAuditEvent, data, "service_token_audit_log", ctx.notes), seq=row["id"])


# --- vault ---------------------------------------------------------------------------------------


def _access(payload: dict[str, Any]) -> None:
    # Today's models call the access scope ``scope``; ours call it ``access``.
    if "access" not in payload and isinstance(payload.get("scope"), dict):
        payload["access"] = payload.pop("scope")


def _envelope(value: Any, where: str) -> EncryptedSecret:
    if not isinstance(value, dict) or "ciphertext" not in value:
        raise LegacyRowError(f"{where}: no encryption envelope")
    return EncryptedSecret(
        algorithm=value.get("algorithm", "aes256-gcm.v1"),
        key_id=value.get("key_id", "primary"),
        ciphertext=value["ciphertext"],
    )


def _reseal(value: Any, ctx: MapContext, credential_id: uuid.UUID, purpose: str) -> EncryptedSecret:
    # Today's envelopes have no associated data; ours bind the credential id and purpose.
    if ctx.legacy_cipher is None:
        raise LegacyRowError(
            "vault: credentials hold encrypted secrets but no legacy vault key is known "
            "(set the legacy key or keep its .key file beside vault.sqlite)"
        )
    try:
        plain = ctx.legacy_cipher.decrypt(_envelope(value, f"credentials.{purpose}"))
    except DecryptionError as exc:
        raise LegacyRowError(f"credentials.{purpose}: {exc}") from None
    ad = f"orcheo-vault:{credential_id}:{purpose}".encode()
    return ctx.target_cipher.encrypt(plain, associated_data=ad)


def _oauth(value: Any, ctx: MapContext, credential_id: uuid.UUID) -> EncryptedSecret | None:
    if value is None:
        return None
    if isinstance(value, dict) and "ciphertext" in value:
        return _reseal(value, ctx, credential_id, "oauth")
    if not isinstance(value, dict) or ctx.legacy_cipher is None:
        raise LegacyRowError("credentials.oauth_tokens: unreadable without the legacy key")
    # Today's OAuth secrets are a map of separately encrypted fields: open each, seal once.
    tokens: dict[str, Any] = {}
    for name, field in value.items():
        if isinstance(field, dict) and "ciphertext" in field:
            tokens[name] = ctx.legacy_cipher.decrypt(_envelope(field, f"oauth_tokens.{name}"))
        else:
            tokens[name] = field
    plain = json.dumps(tokens, sort_keys=True, default=str)
    ad = f"orcheo-vault:{credential_id}:oauth".encode()
    return ctx.target_cipher.encrypt(plain, associated_data=ad)


def credential(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    payload = as_object(row["payload"], "credentials.payload")
    _access(payload)
    health = payload.pop("health", None)
    if isinstance(health, dict):
        payload.setdefault("health_status", health.get("status"))
        payload.setdefault("health_reason", health.get("failure_reason") or health.get("reason"))
    secret = payload.pop("encryption", None) or payload.pop("secret", None)
    oauth = payload.pop("oauth_tokens", None)
    payload.setdefault("id", row["id"])
    payload.setdefault("created_at", row.get("created_at"))
    payload.setdefault("updated_at", row.get("updated_at"))
    meta = fit(Credential, payload, "credentials.payload", ctx.notes)
    stored = StoredCredential(
        credential=meta,
        secret=_reseal(secret, ctx, meta.id, "secret"),
        oauth_tokens=_oauth(oauth, ctx, meta.id),
    )
    return dump(stored)


def template(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    payload = as_object(row["payload"], "credential_templates.payload")
    _access(payload)
    payload.setdefault("id", row["id"])
    return dump(fit(CredentialTemplate, payload, "credential_templates.payload", ctx.notes))


def alert(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    payload = as_object(row["payload"], "governance_alerts.payload")
    payload.setdefault("id", row["id"])
    if row.get("acknowledged") is not None:
        payload["acknowledged"] = bool(row["acknowledged"])
    return dump(fit(GovernanceAlert, payload, "governance_alerts.payload", ctx.notes))


OLD_THREAD_ID = (
    "coalesce(json_extract(item_json, '$.thread_id'), json_extract(item_json, '$.threadId'), "
    "json_extract(item_json, '$.metadata.thread_id'))"
)

OTHER_TABLES: tuple[TableMap, ...] = (
    TableMap("service_tokens", "tokens", "service_tokens", ("identifier",), token),
    TableMap("service_token_audit", "tokens", "service_token_audit_log", ("id",), token_event),
    TableMap("vault_templates", "vault", "credential_templates", ("id",), template),
    TableMap("vault_credentials", "vault", "credentials", ("id",), credential),
    TableMap("vault_alerts", "vault", "governance_alerts", ("id",), alert),
    TableMap("chat_threads", "chatkit", "chat_threads", ("id",), thread),
    TableMap(
        "chat_items",
        "chatkit",
        "chat_messages",
        ("thread_id", "ordinal"),
        item,
        derived=(("thread_id", OLD_THREAD_ID),),
    ),
    TableMap("chat_attachments", "chatkit", "chat_attachments", ("id",), attachment),
)
