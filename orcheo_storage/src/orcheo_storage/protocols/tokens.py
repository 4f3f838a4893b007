"""Service tokens: hashed secrets, the per-request lookup and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from orcheo_storage.models.tokens import ServiceToken, TokenAuditEvent


@runtime_checkable
class ServiceTokenStore(Protocol):
    async def create(self, token: ServiceToken) -> ServiceToken:
        """Raises ``DuplicateError`` for an existing identifier or secret hash."""
        ...

    async def update(self, token: ServiceToken) -> ServiceToken:
        """Replace a token's record. Raises ``TokenNotFoundError``."""
        ...

    async def delete(self, identifier: str) -> None:
        """Idempotent."""
        ...

    async def get_by_id(self, identifier: str) -> ServiceToken:
        """Raises ``TokenNotFoundError``."""
        ...

    async def get_by_hash(self, secret_hash: str) -> ServiceToken | None:
        """The hot path: one indexed lookup."""
        ...

    async def list_all(self) -> list[ServiceToken]:
        """Ordered by issued_at, identifier."""
        ...

    async def list_active(self, *, now: datetime | None = None) -> list[ServiceToken]: ...

    async def revoke(
        self, identifier: str, *, reason: str, actor: str | None = None
    ) -> ServiceToken:
        """Effective immediately for lookups that start after it returns."""
        ...

    async def record_usage(
        self, identifier: str, *, ip: str | None = None, user_agent: str | None = None
    ) -> None:
        """last_used_at, use_count + 1 and a "used" audit entry (may be coalesced until flush)."""
        ...

    async def flush_usage(self) -> None:
        """Write any coalesced usage so use_count equals the recorded uses."""
        ...

    async def record_audit_event(self, event: TokenAuditEvent) -> None: ...

    async def list_audit_events(
        self, *, token_id: str | None = None, limit: int = 100
    ) -> list[TokenAuditEvent]:
        """Newest first."""
        ...
