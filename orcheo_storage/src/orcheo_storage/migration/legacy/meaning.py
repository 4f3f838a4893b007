"""What a legacy row means, compared field by field with what the target holds.

For every legacy field that is present in a row and whose fate is ``mapped`` or
``derived`` (:mod:`.shapes`), the value the target returns at the field's target path must
equal the legacy value, compared as canonical JSON (so ``2.0`` is not ``2``), timestamps as
the same instant, secrets after decrypting each side with its own key. This is written
from the shapes, not from the mappers, so a field a mapper drops or changes is found and
named by its legacy path.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from orcheo_storage.crypto import VaultCipher
from orcheo_storage.errors import DecryptionError, StorageError
from orcheo_storage.jsoncodec import canonical_dumps
from orcheo_storage.migration.legacy.shapes import Fate, Field, Kind, LegacyTable
from orcheo_storage.models.vault import EncryptedSecret
from orcheo_storage.rules.triggers import SECRET_FIELDS, open_webhook

_MISSING = object()
_EMPTY: tuple[Any, ...] = (None, {}, [])
_CHAT_DOCUMENTS = {("chat_threads", "status_json"), ("chat_messages", "item_json")}
_CHAT_DOCUMENTS |= {("chat_attachments", "details_json")}


class Ciphers:
    """The two keys of a comparison: today's (legacy) and the target's."""

    def __init__(self, legacy: VaultCipher | None, target: VaultCipher) -> None:
        self.legacy = legacy
        self.target = target

    def open_legacy(self, envelope: Any) -> str | None:
        if self.legacy is None or not isinstance(envelope, dict):
            return None
        try:
            return self.legacy.decrypt(EncryptedSecret.model_validate(envelope))
        except (DecryptionError, ValueError):
            return None

    def open_target(self, envelope: Any, ad: bytes) -> str | None:
        if not isinstance(envelope, dict):
            return None
        try:
            return self.target.decrypt(EncryptedSecret.model_validate(envelope), associated_data=ad)
        except (DecryptionError, ValueError):
            return None


def differences(
    shape: LegacyTable,
    logical: str,
    legacy: dict[str, Any],
    target: dict[str, dict[str, Any] | None],
    ciphers: Ciphers,
) -> list[str]:
    """The legacy paths (of fields feeding ``logical``) whose value the target does not hold.

    Args:
        shape: the legacy table.
        logical: the logical table compared (a legacy table may feed two).
        legacy: the legacy row, JSON columns decoded, allowed losses removed.
        target: the target's row of every logical table the shape feeds, by name.
        ciphers: to open secrets on each side.
    """
    special = _SPECIAL.get((shape.name, logical))
    out = [] if special is None else special(legacy, target, ciphers)
    skip = _SKIP.get(shape.name, frozenset())
    for path, field, value in _present_fields(shape.columns, legacy, ""):
        if path in skip or (not field.to.startswith(f"{logical}.") and field.to != logical):
            continue
        if field.fate not in (Fate.MAPPED, Fate.DERIVED):
            continue
        if field.kind is Kind.OBJECT or field.kind is Kind.DOCUMENT:
            continue  # its keys are compared one by one
        got = _at(target.get(logical), field.to[len(logical) + 1 :])
        if not _same(field, value, got, (shape.name, path)):
            out.append(path)
    return out


def _present_fields(
    fields: tuple[Field, ...], data: dict[str, Any], prefix: str
) -> Iterator[tuple[str, Field, Any]]:
    for field in fields:
        if field.name not in data:
            continue
        path = f"{prefix}.{field.name}" if prefix else field.name
        value = data[field.name]
        yield path, field, value
        if field.kind in (Kind.OBJECT, Kind.DOCUMENT) and isinstance(value, dict):
            yield from _present_fields(field.fields, value, path)


def _at(row: Any, path: str) -> Any:
    """The value at a target path (``publication.is_public``, ``audit_log[]``)."""
    node = row
    for part in path.split("."):
        name = part.removesuffix("[]")
        if not isinstance(node, dict) or name not in node:
            return _MISSING
        node = node[name]
    return node


def _same(field: Field, legacy: Any, target: Any, where: tuple[str, str]) -> bool:
    if target is _MISSING:
        return legacy is None
    if legacy is None and target in _EMPTY:
        return True  # Orcheo writes some empty sets and documents as NULL
    if where in _CHAT_DOCUMENTS:
        return _contains(target, legacy)
    if field.kind is Kind.OBJECTS:
        return _objects(field, legacy, target)
    return _canonical(field.kind, legacy) == _canonical(field.kind, target)


def _objects(field: Field, legacy: Any, target: Any) -> bool:
    """A list of typed objects (an audit log): element by element, field by field."""
    if not isinstance(legacy, list) or not isinstance(target, list) or len(legacy) != len(target):
        return False
    for old, new in zip(legacy, target, strict=True):
        for sub in field.fields:
            if sub.name not in old:
                continue
            name = sub.to.rsplit(".", 1)[-1]
            if not _same(sub, old[sub.name], new.get(name, _MISSING), ("", "")):
                return False
    return True


def _canonical(kind: Kind, value: Any) -> str:
    if value is None:
        return "null"
    if kind is Kind.TIME:
        return _instant(value)
    if kind is Kind.BOOL:
        return "true" if value else "false"
    if isinstance(value, datetime):
        return _instant(value)
    return canonical_dumps(value)


def _instant(value: Any) -> str:
    try:
        stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return f"unparsable:{value}"
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC).isoformat(timespec="microseconds")


def _contains(target: Any, legacy: Any) -> bool:
    """Every key of a ChatKit document kept, equal (the target may add defaults)."""
    if isinstance(legacy, dict):
        return isinstance(target, dict) and all(
            k in target and _contains(target[k], v) for k, v in legacy.items()
        )
    if isinstance(legacy, list):
        return (
            isinstance(target, list)
            and len(legacy) == len(target)
            and all(_contains(t, v) for t, v in zip(target, legacy, strict=True))
        )
    if isinstance(legacy, str) and isinstance(target, str) and legacy != target:
        return _instant(legacy) == _instant(target) and not _instant(legacy).startswith("unp")
    return canonical_dumps(legacy) == canonical_dumps(target)


# --- fields compared by a rule of their own ------------------------------------------------------


def _orcheo_checksum(graph: Any) -> str:
    text = json.dumps(graph, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _version(legacy: dict[str, Any], target: dict[str, Any], ciphers: Ciphers) -> list[str]:
    payload = legacy.get("payload") or {}
    row = target.get("workflow_versions") or {}
    graph = payload.get("graph", {})
    out = []
    if canonical_dumps(graph) != canonical_dumps(row.get("graph")):
        out.append("payload.graph")
    try:
        expected = _orcheo_checksum(graph)
    except (TypeError, ValueError):
        expected = None
    if expected is not None and row.get("checksum") != expected:
        out.append("payload.graph (checksum)")
    return out


def _webhook(legacy: dict[str, Any], target: dict[str, Any], ciphers: Ciphers) -> list[str]:
    config = legacy.get("config") or {}
    row = target.get("webhook_triggers") or {}
    try:
        opened = open_webhook(
            dict(row.get("config") or {}), ciphers.target, str(row.get("workflow_id"))
        ).config
    except (StorageError, TypeError, ValueError):
        return [f"config.{name}" for name in SECRET_FIELDS if config.get(name) is not None]
    out = []
    for name in SECRET_FIELDS:
        secret = getattr(opened, name)
        value = None if secret is None else secret.get_secret_value()
        if config.get(name, None) != value:
            out.append(f"config.{name}")
    return out


def _credential(legacy: dict[str, Any], target: dict[str, Any], ciphers: Ciphers) -> list[str]:
    payload = legacy.get("payload") or {}
    row = target.get("vault_credentials") or {}
    credential_id = (row.get("credential") or {}).get("id")
    out = []
    ad = f"orcheo-vault:{credential_id}:secret".encode()
    old = ciphers.open_legacy(payload.get("encryption"))
    if old is None or old != ciphers.open_target(row.get("secret"), ad):
        out.append("payload.encryption")
    oauth = payload.get("oauth_tokens")
    sealed = row.get("oauth_tokens")
    if oauth is None:
        if sealed is not None:
            out.append("payload.oauth_tokens")
        return out
    opened = ciphers.open_target(sealed, f"orcheo-vault:{credential_id}:oauth".encode())
    tokens = json.loads(opened) if opened is not None else {}
    for name in ("access_token", "refresh_token"):
        envelope = oauth.get(name)
        want = None if envelope is None else ciphers.open_legacy(envelope)
        if (envelope is not None and want is None) or tokens.get(name) != want:
            out.append(f"payload.oauth_tokens.{name}")
    if _instant(oauth.get("expires_at")) != _instant(tokens.get("expires_at")) and (
        oauth.get("expires_at") is not None or tokens.get("expires_at") is not None
    ):
        out.append("payload.oauth_tokens.expires_at (sealed)")
    return out


_Special = Callable[[dict[str, Any], dict[str, Any], Ciphers], list[str]]
_SPECIAL: dict[tuple[str, str], _Special] = {
    ("workflow_versions", "workflow_versions"): _version,
    ("webhook_triggers", "webhook_triggers"): _webhook,
    ("credentials", "vault_credentials"): _credential,
}
# Fields the special rules above compare (secrets, the graph and its checksum).
_SKIP: dict[str, frozenset[str]] = {
    "workflow_versions": frozenset({"payload.graph"}),
    "webhook_triggers": frozenset(f"config.{name}" for name in SECRET_FIELDS),
    "credentials": frozenset(
        {
            "payload.encryption.algorithm",
            "payload.encryption.key_id",
            "payload.encryption.ciphertext",
            "payload.oauth_tokens.access_token.algorithm",
            "payload.oauth_tokens.access_token.key_id",
            "payload.oauth_tokens.access_token.ciphertext",
            "payload.oauth_tokens.refresh_token.algorithm",
            "payload.oauth_tokens.refresh_token.key_id",
            "payload.oauth_tokens.refresh_token.ciphertext",
        }
    ),
}
