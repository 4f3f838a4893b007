"""The credential vault: credentials, templates and governance alerts.

Backends store :class:`StoredCredential` (ciphertext only); applications see
:class:`Credential` (metadata, no secret) through :class:`~orcheo_storage.vault.CredentialVault`.
"""

from __future__ import annotations

import enum
from uuid import UUID

from pydantic import Field

from orcheo_storage.models.common import AuditEvent, JsonDict, StorageModel, Text, UtcDatetime


class CredentialKind(enum.StrEnum):
    SECRET = "secret"
    OAUTH = "oauth"


class HealthStatus(enum.StrEnum):
    UNKNOWN = "unknown"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


class AlertSeverity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AccessScope(StorageModel):
    """Who may see a credential or template. Empty lists mean no restriction on that axis."""

    workflow_ids: list[Text] = Field(default_factory=list)
    workspace_ids: list[Text] = Field(default_factory=list)
    roles: list[Text] = Field(default_factory=list)


class AccessContext(StorageModel):
    """The caller's context; ``None`` fields match only unrestricted axes."""

    workflow_id: Text | None = None
    workspace_id: Text | None = None
    roles: list[Text] = Field(default_factory=list)


class EncryptedSecret(StorageModel):
    """An AEAD envelope: ``ciphertext`` is base64(nonce + AES-GCM output)."""

    algorithm: Text = "aes256-gcm.v1"
    key_id: Text
    ciphertext: Text


class Credential(StorageModel):
    id: UUID
    name: Text
    provider: Text
    scopes: list[Text] = Field(default_factory=list)
    access: AccessScope = Field(default_factory=AccessScope)
    kind: CredentialKind = CredentialKind.SECRET
    template_id: UUID | None = None
    health_status: HealthStatus = HealthStatus.UNKNOWN
    health_reason: Text | None = None
    oauth_expires_at: UtcDatetime | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    audit_log: list[AuditEvent] = Field(default_factory=list)
    last_rotated_at: UtcDatetime | None = None
    health_checked_at: UtcDatetime | None = None


class StoredCredential(StorageModel):
    """What a backend persists: metadata plus envelopes. Never plaintext."""

    credential: Credential
    secret: EncryptedSecret
    oauth_tokens: EncryptedSecret | None = None


class CredentialTemplate(StorageModel):
    id: UUID
    name: Text
    provider: Text
    scopes: list[Text] = Field(default_factory=list)
    description: Text | None = None
    access: AccessScope = Field(default_factory=AccessScope)
    kind: CredentialKind = CredentialKind.SECRET
    issuance_policy: JsonDict = Field(default_factory=dict)
    created_at: UtcDatetime
    updated_at: UtcDatetime
    audit_log: list[AuditEvent] = Field(default_factory=list)


class GovernanceAlert(StorageModel):
    id: UUID
    kind: Text
    severity: AlertSeverity = AlertSeverity.WARNING
    message: Text
    credential_id: UUID | None = None
    template_id: UUID | None = None
    acknowledged: bool = False
    acknowledged_by: Text | None = None
    acknowledged_at: UtcDatetime | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    access: AccessScope = Field(default_factory=AccessScope)
    audit_log: list[AuditEvent] = Field(default_factory=list)
