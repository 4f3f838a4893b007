"""Trigger configs: webhook normalisation and sealing of webhook secrets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import SecretStr

from orcheo_storage.crypto import VaultCipher
from orcheo_storage.errors import DecryptionError
from orcheo_storage.jsoncodec import JsonObject
from orcheo_storage.models.common import build
from orcheo_storage.models.triggers import CronConfig, RetryPolicy, WebhookConfig
from orcheo_storage.models.vault import EncryptedSecret

SECRET_FIELDS = ("shared_secret", "hmac_secret")
HEADER_FIELDS = ("shared_secret_header", "hmac_header", "hmac_timestamp_header")


def _header(name: Any) -> Any:
    # Header names compare case-insensitively: stored stripped and lower-cased.
    if not isinstance(name, str):
        return name  # None, or a wrong type the model refuses by name
    return name.strip().lower() or None


def normalise_webhook(config: WebhookConfig | dict[str, Any]) -> WebhookConfig:
    """Methods upper-cased, de-duplicated and sorted; header names lower-cased."""
    raw = config.model_dump() if isinstance(config, WebhookConfig) else dict(config)
    methods = sorted(
        {m.strip().upper() for m in raw.get("allowed_methods") or ["POST"] if m.strip()}
    )
    headers = {k.strip().lower(): v for k, v in (raw.get("required_headers") or {}).items()}
    if "secret_header" in raw:  # Orcheo's alias of shared_secret_header
        raw.setdefault("shared_secret_header", raw.pop("secret_header"))
    raw.update(
        allowed_methods=methods or ["POST"],
        required_headers=headers,
        **{name: _header(raw.get(name)) for name in HEADER_FIELDS},
    )
    return build(WebhookConfig, **raw)


def webhook_ad(workflow_id: UUID | str, field: str) -> bytes:
    """What binds a webhook secret's envelope to its workflow and field (AEAD associated data),
    so a sealed config copied to another workflow, or an envelope moved to the other secret
    field, fails to decrypt instead of handing out someone else's secret."""
    return f"orcheo-webhook:{UUID(str(workflow_id))}:{field}".encode()


def seal_webhook(config: WebhookConfig, cipher: VaultCipher, workflow_id: UUID | str) -> JsonObject:
    """The stored form: plain fields as JSON, secret fields as envelopes bound to
    ``workflow_id`` and the field."""
    doc: dict[str, Any] = config.model_dump(mode="json", exclude=set(SECRET_FIELDS))
    for field in SECRET_FIELDS:
        secret: SecretStr | None = getattr(config, field)
        doc[field] = (
            None
            if secret is None
            else cipher.encrypt(
                secret.get_secret_value(), associated_data=webhook_ad(workflow_id, field)
            ).model_dump()
        )
    return doc


@dataclass(frozen=True)
class OpenedWebhook:
    """A stored webhook config opened: the config, and ``resealed``, the document to store
    instead when it held envelopes from before envelopes were bound (``None`` otherwise)."""

    config: WebhookConfig
    resealed: JsonObject | None


def open_webhook(
    doc: dict[str, Any], cipher: VaultCipher, workflow_id: UUID | str
) -> OpenedWebhook:
    """Inverse of :func:`seal_webhook`.

    An envelope sealed before envelopes were bound to their workflow and field (no
    associated data) is still read, once: the result carries the document re-sealed, which
    the store writes back (only if the stored document is still ``doc``).

    Raises:
        DecryptionError: a secret does not decrypt with the configured keys, or its envelope
            belongs to another workflow or field.
    """
    data = dict(doc)
    unbound = False
    for field in SECRET_FIELDS:
        raw = data.get(field)
        if raw is None:
            continue
        envelope = EncryptedSecret.model_validate(raw)
        try:
            data[field] = cipher.decrypt(envelope, associated_data=webhook_ad(workflow_id, field))
        except DecryptionError as bound_error:
            try:
                data[field] = cipher.decrypt(envelope)  # sealed before envelopes were bound
            except DecryptionError:
                raise bound_error from None
            unbound = True
    config = build(WebhookConfig, **data)
    return OpenedWebhook(config, seal_webhook(config, cipher, workflow_id) if unbound else None)


def normalise_cron(config: CronConfig | dict[str, Any]) -> CronConfig:
    raw = config.model_dump() if isinstance(config, CronConfig) else dict(config)
    raw["expression"] = " ".join(str(raw.get("expression", "")).split())
    if not raw["expression"]:
        from orcheo_storage.errors import ValidationError

        raise ValidationError("cron expression must not be empty", field="expression")
    return build(CronConfig, **raw)


def normalise_retry(policy: RetryPolicy | dict[str, Any]) -> RetryPolicy:
    return policy if isinstance(policy, RetryPolicy) else build(RetryPolicy, **policy)


def cron_slot_advances(current: datetime | None, expected: datetime | None, new: datetime) -> bool:
    """The compare-and-set rule: advance only from the expected value, and only forwards."""
    if current != expected:
        return False
    return current is None or new > current
