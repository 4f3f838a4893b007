"""The credential vault applications use: encryption and access rules over a record store.

Backends implement :class:`~orcheo_storage.protocols.vault.VaultRecordStore` and only
ever receive ciphertext. Each envelope is bound to its credential id (AEAD associated
data), so moving a ciphertext to another row is detected as tampering.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from pydantic import SecretStr

from orcheo_storage.clock import optional_utc, utcnow
from orcheo_storage.crypto import VaultCipher
from orcheo_storage.errors import (
    CredentialNotFoundError,
    SecretUnchangedError,
    TemplateNotFoundError,
    ValidationError,
)
from orcheo_storage.jsoncodec import check_text
from orcheo_storage.models.common import build
from orcheo_storage.models.vault import (
    AccessContext,
    AccessScope,
    AlertSeverity,
    Credential,
    CredentialKind,
    CredentialTemplate,
    EncryptedSecret,
    GovernanceAlert,
    HealthStatus,
    StoredCredential,
)
from orcheo_storage.protocols.vault import VaultRecordStore
from orcheo_storage.rules.states import parse_state
from orcheo_storage.rules.workflows import audit


def can_access(scope: AccessScope, context: AccessContext | None) -> bool:
    """Whether ``context`` may see something restricted by ``scope``.

    ``None`` is the system context and sees everything. Each non-empty axis of the
    scope must be matched by the context (roles: any overlap).
    """
    if context is None:
        return True
    if scope.workflow_ids and context.workflow_id not in scope.workflow_ids:
        return False
    if scope.workspace_ids and context.workspace_id not in scope.workspace_ids:
        return False
    return not scope.roles or bool(set(scope.roles) & set(context.roles))


class CredentialVault:
    """Credentials, templates and governance alerts with encrypted secrets."""

    def __init__(self, records: VaultRecordStore, cipher: VaultCipher) -> None:
        self._records = records
        self._cipher = cipher

    def __repr__(self) -> str:
        return f"CredentialVault(key_id={self._cipher.active_key_id!r})"

    @property
    def records(self) -> VaultRecordStore:
        return self._records

    # --- credentials ---------------------------------------------------------------------------

    async def create_credential(
        self,
        *,
        name: str,
        provider: str,
        secret: str,
        actor: str,
        scopes: list[str] | None = None,
        access: AccessScope | dict[str, Any] | None = None,
        kind: CredentialKind | str = CredentialKind.SECRET,
        oauth_tokens: dict[str, Any] | None = None,
        template_id: uuid.UUID | None = None,
    ) -> Credential:
        """Store a new credential. Raises ``DuplicateError`` when the name is taken (any case)."""
        now = utcnow()
        check_text(secret, "secret")
        credential = build(
            Credential,
            id=uuid.uuid4(),
            name=name.strip(),
            provider=provider,
            scopes=scopes or [],
            access=access or {},
            kind=kind,
            template_id=template_id,
            oauth_expires_at=self._oauth_expiry(oauth_tokens),
            created_at=now,
            updated_at=now,
            last_rotated_at=now,
            audit_log=[audit(actor, "credential_created", now)],
        )
        await self._records.insert_credential(self._seal(credential, secret, oauth_tokens))
        return credential

    async def get_credential(
        self, credential_id: uuid.UUID, context: AccessContext | None = None
    ) -> Credential:
        return (await self._visible(credential_id, context)).credential

    async def list_credentials(self, context: AccessContext | None = None) -> list[Credential]:
        return [
            r.credential
            for r in await self._records.list_credentials()
            if can_access(r.credential.access, context)
        ]

    async def reveal_secret(
        self, credential_id: uuid.UUID, context: AccessContext | None = None
    ) -> SecretStr:
        record = await self._visible(credential_id, context)
        return SecretStr(
            self._cipher.decrypt(record.secret, associated_data=_ad(credential_id, "secret"))
        )

    async def reveal_oauth_tokens(
        self, credential_id: uuid.UUID, context: AccessContext | None = None
    ) -> dict[str, Any] | None:
        record = await self._visible(credential_id, context)
        if record.oauth_tokens is None:
            return None
        plain = self._cipher.decrypt(
            record.oauth_tokens, associated_data=_ad(credential_id, "oauth")
        )
        tokens: dict[str, Any] = json.loads(plain)
        return tokens

    async def rotate_secret(
        self, credential_id: uuid.UUID, new_secret: str, *, actor: str
    ) -> Credential:
        """Replace the secret. Raises ``SecretUnchangedError`` when it is the same secret."""
        check_text(new_secret, "secret")
        record = await self._records.get_credential(credential_id)
        current = self._cipher.decrypt(record.secret, associated_data=_ad(credential_id, "secret"))
        if current == new_secret:
            raise SecretUnchangedError(f"credential {credential_id} already holds this secret")
        now = utcnow()
        credential = record.credential.model_copy(
            update={
                "updated_at": now,
                "last_rotated_at": now,
                "audit_log": [
                    *record.credential.audit_log,
                    audit(actor, "credential_rotated", now),
                ],
            }
        )
        envelope = self._cipher.encrypt(new_secret, associated_data=_ad(credential_id, "secret"))
        await self._records.replace_credential(
            record.model_copy(update={"credential": credential, "secret": envelope})
        )
        return credential

    async def update_oauth_tokens(
        self, credential_id: uuid.UUID, tokens: dict[str, Any] | None, *, actor: str
    ) -> Credential:
        record = await self._records.get_credential(credential_id)
        now = utcnow()
        credential = record.credential.model_copy(
            update={
                "oauth_expires_at": self._oauth_expiry(tokens),
                "updated_at": now,
                "audit_log": [
                    *record.credential.audit_log,
                    audit(actor, "oauth_tokens_updated", now),
                ],
            }
        )
        sealed = None if tokens is None else self._seal_oauth(credential_id, tokens)
        await self._records.replace_credential(
            record.model_copy(update={"credential": credential, "oauth_tokens": sealed})
        )
        return credential

    async def mark_health(
        self,
        credential_id: uuid.UUID,
        status: HealthStatus | str,
        *,
        reason: str | None = None,
        actor: str,
    ) -> Credential:
        record = await self._records.get_credential(credential_id)
        now = utcnow()
        target = parse_state(HealthStatus, status, entity="credential health", field="status")
        event = audit(
            actor, "credential_health_changed", now, {"status": target.value, "reason": reason}
        )
        credential = build(
            Credential,
            **{
                **record.credential.model_dump(),
                "health_status": target,
                "health_reason": reason,
                "health_checked_at": now,
                "updated_at": now,
                "audit_log": [*record.credential.audit_log, event],
            },
        )
        await self._records.replace_credential(record.model_copy(update={"credential": credential}))
        return credential

    async def delete_credential(self, credential_id: uuid.UUID) -> None:
        """Delete the credential and its alerts. Raises ``CredentialNotFoundError``."""
        await self._records.delete_credential(credential_id)

    # --- templates -----------------------------------------------------------------------------

    async def create_template(
        self,
        *,
        name: str,
        provider: str,
        actor: str,
        scopes: list[str] | None = None,
        description: str | None = None,
        access: AccessScope | dict[str, Any] | None = None,
        kind: CredentialKind | str = CredentialKind.SECRET,
        issuance_policy: dict[str, Any] | None = None,
    ) -> CredentialTemplate:
        now = utcnow()
        template = build(
            CredentialTemplate,
            id=uuid.uuid4(),
            name=name.strip(),
            provider=provider,
            scopes=scopes or [],
            description=description,
            access=access or {},
            kind=kind,
            issuance_policy=issuance_policy or {},
            created_at=now,
            updated_at=now,
            audit_log=[audit(actor, "template_created", now)],
        )
        await self._records.insert_template(template)
        return template

    async def get_template(
        self, template_id: uuid.UUID, context: AccessContext | None = None
    ) -> CredentialTemplate:
        template = await self._records.get_template(template_id)
        if not can_access(template.access, context):
            raise TemplateNotFoundError(template_id)
        return template

    async def list_templates(
        self, context: AccessContext | None = None
    ) -> list[CredentialTemplate]:
        return [t for t in await self._records.list_templates() if can_access(t.access, context)]

    async def update_template(
        self, template_id: uuid.UUID, *, actor: str, **changes: Any
    ) -> CredentialTemplate:
        """Change template fields (name, provider, scopes, description, access, kind, issuance_policy)."""
        template = await self._records.get_template(template_id)
        now = utcnow()
        allowed = {"name", "provider", "scopes", "description", "access", "kind", "issuance_policy"}
        update = {k: v for k, v in changes.items() if k in allowed and v is not None}
        event = audit(actor, "template_updated", now, {"fields": sorted(update)})
        updated = build(
            CredentialTemplate,
            **{
                **template.model_dump(),
                **update,
                "updated_at": now,
                "audit_log": [*template.audit_log, event],
            },
        )
        await self._records.replace_template(updated)
        return updated

    async def delete_template(self, template_id: uuid.UUID) -> None:
        await self._records.delete_template(template_id)

    # --- alerts --------------------------------------------------------------------------------

    async def record_alert(
        self,
        *,
        kind: str,
        message: str,
        severity: AlertSeverity | str = AlertSeverity.WARNING,
        credential_id: uuid.UUID | None = None,
        template_id: uuid.UUID | None = None,
        access: AccessScope | dict[str, Any] | None = None,
        actor: str = "governance",
    ) -> GovernanceAlert:
        """Add an alert, or update the matching unacknowledged one (same kind and references).

        A new alert's audit log starts with ``alert_created`` (kind and severity), as Orcheo's.
        """
        now = utcnow()
        alert = build(
            GovernanceAlert,
            id=uuid.uuid4(),
            kind=kind,
            severity=severity,
            message=message,
            credential_id=credential_id,
            template_id=template_id,
            access=access or {},
            created_at=now,
            updated_at=now,
        )
        created = audit(
            actor, "alert_created", now, {"kind": alert.kind, "severity": alert.severity.value}
        )
        alert = alert.model_copy(update={"audit_log": [created]})
        return await self._records.upsert_alert(alert)

    async def list_alerts(self, *, include_acknowledged: bool = False) -> list[GovernanceAlert]:
        return await self._records.list_alerts(include_acknowledged=include_acknowledged)

    async def acknowledge_alert(self, alert_id: uuid.UUID, *, actor: str) -> GovernanceAlert:
        """Idempotent: acknowledging twice keeps the first acknowledgement."""
        alert = await self._records.get_alert(alert_id)
        if alert.acknowledged:
            return alert
        now = utcnow()
        updated = alert.model_copy(
            update={
                "acknowledged": True,
                "acknowledged_by": actor,
                "acknowledged_at": now,
                "updated_at": now,
                "audit_log": [*alert.audit_log, audit(actor, "alert_acknowledged", now)],
            }
        )
        await self._records.replace_alert(updated)
        return updated

    # --- helpers -------------------------------------------------------------------------------

    async def _visible(
        self, credential_id: uuid.UUID, context: AccessContext | None
    ) -> StoredCredential:
        record = await self._records.get_credential(credential_id)
        if not can_access(record.credential.access, context):
            raise CredentialNotFoundError(credential_id)
        return record

    def _seal(
        self, credential: Credential, secret: str, oauth: dict[str, Any] | None
    ) -> StoredCredential:
        return StoredCredential(
            credential=credential,
            secret=self._cipher.encrypt(secret, associated_data=_ad(credential.id, "secret")),
            oauth_tokens=None if oauth is None else self._seal_oauth(credential.id, oauth),
        )

    def _seal_oauth(self, credential_id: uuid.UUID, tokens: dict[str, Any]) -> EncryptedSecret:
        plain = json.dumps(tokens, sort_keys=True, default=str)
        check_text(plain, "oauth_tokens")
        return self._cipher.encrypt(plain, associated_data=_ad(credential_id, "oauth"))

    @staticmethod
    def _oauth_expiry(tokens: dict[str, Any] | None) -> datetime | None:
        if not tokens or tokens.get("expires_at") is None:
            return None
        value = tokens["expires_at"]
        field = "oauth_tokens.expires_at"
        try:
            parsed = (
                datetime.fromisoformat(check_text(value, field))
                if isinstance(value, str)
                else value
            )
            return optional_utc(parsed, field)
        except (ValueError, OverflowError) as exc:
            if isinstance(exc, ValidationError):
                raise
        raise ValidationError("must be an ISO 8601 date and time", field=field)


def associated_data(credential_id: uuid.UUID, purpose: str) -> bytes:
    """What binds an envelope to its credential and purpose (``secret`` or ``oauth``)."""
    return f"orcheo-vault:{credential_id}:{purpose}".encode()


_ad = associated_data
