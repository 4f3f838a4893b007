"""Mappers for ``chatkit.sqlite``, ``service_tokens.sqlite`` and ``vault.sqlite``."""

from __future__ import annotations

import functools
import json
import uuid
import warnings
from typing import Any

from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from orcheo_storage.crypto import VaultCipher
from orcheo_storage.errors import DecryptionError
from orcheo_storage.jsoncodec import JsonObject
from orcheo_storage.migration.legacy.context import MapContext, TableMap
from orcheo_storage.migration.legacy.fitting import (
    LegacyRowError,
    as_object,
    dump,
    parse_json,
    payload_of,
    strict,
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
    """``value`` unchanged, once the installed ChatKit has shown it can load it.

    Kept verbatim rather than re-dumped: a newer ChatKit ignores keys an older one wrote
    (1.6 no longer has an attachment's ``upload_url``), and re-dumping would drop them.
    """
    adapters = _chatkit_adapters()
    if adapters is None:
        return value
    try:
        adapters[kind].validate_python(value)
    except PydanticValidationError as exc:
        raise LegacyRowError(
            f"{where}: not a ChatKit {kind}: {exc.error_count()} error(s)"
        ) from None
    return value


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
        # Orcheo writes an empty set as NULL; here it is an empty list.
        data[column] = data.get(column) or []
    data["use_count"] = int(row.get("use_count") or 0)
    if data.get("issued_at") is None:
        data["issued_at"] = row.get("created_at")
    return dump(strict(ServiceToken, data))


def token_event(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    data = {
        "token_id": row["token_id"],
        "action": row["action"],
        "actor": row.get("actor"),
        "ip": row.get("ip_address"),
        "user_agent": row.get("user_agent"),
        "timestamp": row["timestamp"],
        "details": row.get("details") or {},
    }
    return dump(strict(TokenAuditEvent, data), seq=row["id"])


# --- vault ---------------------------------------------------------------------------------------


def _access(payload: dict[str, Any]) -> None:
    # Today's models call the access scope ``scope``; ours call it ``access``.
    if "scope" in payload:
        payload["access"] = payload.pop("scope") or {}


def _envelope(value: Any, where: str) -> EncryptedSecret:
    if not isinstance(value, dict) or "ciphertext" not in value:
        raise LegacyRowError("no encryption envelope", field=where)
    return EncryptedSecret(
        algorithm=value.get("algorithm", "aes256-gcm.v1"),
        key_id=value.get("key_id", "primary"),
        ciphertext=value["ciphertext"],
    )


def _legacy_cipher(ctx: MapContext) -> VaultCipher:
    if ctx.legacy_cipher is None:
        raise LegacyRowError(
            "vault.sqlite holds encrypted secrets but no legacy vault key is known: set "
            "ORCHEO_LEGACY_VAULT_ENCRYPTION_KEY to today's ORCHEO_VAULT_ENCRYPTION_KEY (or keep "
            "today's vault.key file beside vault.sqlite)"
        )
    return ctx.legacy_cipher


def _open(value: Any, ctx: MapContext, where: str) -> str:
    try:
        return _legacy_cipher(ctx).decrypt(_envelope(value, where))
    except DecryptionError as exc:
        raise LegacyRowError(str(exc), field=where) from None


def _seal(plain: str, ctx: MapContext, credential_id: uuid.UUID, purpose: str) -> EncryptedSecret:
    # Today's envelopes have no associated data; ours bind the credential id and purpose.
    ad = f"orcheo-vault:{credential_id}:{purpose}".encode()
    return ctx.target_cipher.encrypt(plain, associated_data=ad)


def oauth_plaintext(value: dict[str, Any], ctx: MapContext) -> dict[str, Any]:
    """Today's OAuth token payload opened: each token decrypted, ``expires_at`` as UTC text."""
    tokens: dict[str, Any] = {}
    for name in ("access_token", "refresh_token"):
        field = value.get(name)
        tokens[name] = None if field is None else _open(field, ctx, f"oauth_tokens.{name}")
    tokens["expires_at"] = utc_text(value.get("expires_at"))
    return tokens


def credential(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    p = payload_of(row, "id", "name", "provider", "created_at", "updated_at")
    _access(p)
    health = p.pop("health", None) or {}
    p["health_status"] = health.get("status") or "unknown"
    p["health_checked_at"] = health.get("last_checked_at")
    p["health_reason"] = health.get("failure_reason")
    secret = p.pop("encryption", None)
    oauth = p.pop("oauth_tokens", None)
    tokens = None if oauth is None else oauth_plaintext(oauth, ctx)
    p["oauth_expires_at"] = None if tokens is None else tokens["expires_at"]
    meta = strict(Credential, p)
    plain = json.dumps(tokens, sort_keys=True) if tokens is not None else None
    stored = StoredCredential(
        credential=meta,
        secret=_seal(_open(secret, ctx, "encryption"), ctx, meta.id, "secret"),
        oauth_tokens=None if plain is None else _seal(plain, ctx, meta.id, "oauth"),
    )
    return dump(stored)


def template(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    p = payload_of(row, "id", "name", "provider", "created_at", "updated_at")
    _access(p)
    return dump(strict(CredentialTemplate, p))


def alert(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    p = payload_of(row, "id", "created_at", "updated_at")
    _access(p)
    if "is_acknowledged" in p:
        p["acknowledged"] = bool(p.pop("is_acknowledged"))
    elif row.get("acknowledged") is not None:
        p["acknowledged"] = bool(row["acknowledged"])
    return dump(strict(GovernanceAlert, p))


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
