"""Service tokens: only the SHA-256 hash of a secret is ever stored."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from orcheo_storage.models.common import INT64_MAX, JsonDict, StorageModel, Text, UtcDatetime

SecretHash = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class ServiceToken(StorageModel):
    identifier: Annotated[Text, StringConstraints(min_length=1, max_length=128)]
    secret_hash: SecretHash
    scopes: list[Text] = Field(default_factory=list)
    workspace_ids: list[Text] = Field(default_factory=list)
    issued_at: UtcDatetime
    expires_at: UtcDatetime | None = None
    rotation_expires_at: UtcDatetime | None = None
    rotated_to: Text | None = None
    revoked_at: UtcDatetime | None = None
    revocation_reason: Text | None = None
    last_used_at: UtcDatetime | None = None
    use_count: int = Field(default=0, ge=0, le=INT64_MAX)
    created_at: UtcDatetime | None = None
    """When the record was stored (set by the store on create when not given)."""
    created_by: Text | None = None
    rotated_from: Text | None = None
    revoked_by: Text | None = None
    allowed_ip_ranges: list[Text] | None = None
    rate_limit_override: int | None = Field(default=None, ge=-INT64_MAX - 1, le=INT64_MAX)

    def is_active(self, now: datetime) -> bool:
        """Not revoked, and either no expiry or an expiry later than ``now``."""
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > now


class TokenAuditEvent(StorageModel):
    token_id: Text
    action: Text
    actor: Text | None = None
    ip: Text | None = None
    user_agent: Text | None = None
    timestamp: UtcDatetime
    details: JsonDict = Field(default_factory=dict)
