"""In-memory service-token store. Usage is applied immediately (``flush_usage`` is a no-op)."""

from __future__ import annotations

from datetime import datetime

from orcheo_storage.clock import optional_utc, utcnow
from orcheo_storage.errors import DuplicateError, TokenNotFoundError
from orcheo_storage.memory._lifecycle import refuses_when_closed
from orcheo_storage.memory._state import MemoryState, copy, copy_in
from orcheo_storage.models.common import build
from orcheo_storage.models.tokens import ServiceToken, TokenAuditEvent
from orcheo_storage.rules.pagination import check_limit
from orcheo_storage.rules.tokens import hashes_equal, stamp_created


@refuses_when_closed
class MemoryServiceTokenStore:
    """:class:`~orcheo_storage.protocols.tokens.ServiceTokenStore` over a session's state."""

    def __init__(self, state: MemoryState) -> None:
        self._state = state

    def _require(self, identifier: str) -> ServiceToken:
        token = self._state.tokens.get(identifier)
        if token is None:
            raise TokenNotFoundError(identifier)
        return token

    def _put(self, token: ServiceToken) -> None:
        previous = self._state.tokens.get(token.identifier)
        if previous is not None:
            self._state.token_hashes.pop(previous.secret_hash, None)
        self._state.tokens[token.identifier] = token
        self._state.token_hashes[token.secret_hash] = token.identifier

    def _audit(self, event: TokenAuditEvent) -> None:
        self._state.token_audit.append((self._state.next_token_audit_seq(), event))

    async def create(self, token: ServiceToken) -> ServiceToken:
        stored = copy_in(stamp_created(token, utcnow()))
        if stored.identifier in self._state.tokens:
            raise DuplicateError("service token", stored.identifier)
        if stored.secret_hash in self._state.token_hashes:
            # The key is the identifier only: never echo a secret hash in an error.
            raise DuplicateError("service token secret hash", "<redacted>")
        self._put(stored)
        return copy(stored)

    async def update(self, token: ServiceToken) -> ServiceToken:
        stored = copy_in(token)
        self._require(stored.identifier)
        holder = self._state.token_hashes.get(stored.secret_hash)
        if holder is not None and holder != stored.identifier:
            raise DuplicateError("service token secret hash", "<redacted>")
        self._put(stored)
        return copy(stored)

    async def delete(self, identifier: str) -> None:
        token = self._state.tokens.pop(identifier, None)
        if token is not None:
            self._state.token_hashes.pop(token.secret_hash, None)

    async def get_by_id(self, identifier: str) -> ServiceToken:
        return copy(self._require(identifier))

    async def get_by_hash(self, secret_hash: str) -> ServiceToken | None:
        identifier = self._state.token_hashes.get(secret_hash)
        if identifier is None:
            return None
        token = self._state.tokens[identifier]
        # The dict lookup already matched; compare in constant time anyway, as every
        # backend does, so no path short-circuits on a secret-derived value.
        return copy(token) if hashes_equal(token.secret_hash, secret_hash) else None

    async def list_all(self) -> list[ServiceToken]:
        tokens = sorted(self._state.tokens.values(), key=lambda t: (t.issued_at, t.identifier))
        return [copy(t) for t in tokens]

    async def list_active(self, *, now: datetime | None = None) -> list[ServiceToken]:
        at = optional_utc(now, "now") or utcnow()
        return [t for t in await self.list_all() if t.is_active(at)]

    async def revoke(
        self, identifier: str, *, reason: str, actor: str | None = None
    ) -> ServiceToken:
        token = self._require(identifier)
        if token.revoked_at is not None:
            return copy(token)
        now = utcnow()
        revoked = build(
            ServiceToken,
            **{**token.model_dump(), "revoked_at": now, "revocation_reason": reason},
        )
        event = build(
            TokenAuditEvent,
            token_id=identifier,
            action="revoked",
            actor=actor,
            timestamp=now,
            details={"reason": reason},
        )
        self._put(revoked)
        self._audit(event)
        return copy(revoked)

    async def record_usage(
        self, identifier: str, *, ip: str | None = None, user_agent: str | None = None
    ) -> None:
        token = self._require(identifier)
        now = utcnow()
        event = build(
            TokenAuditEvent,
            token_id=identifier,
            action="used",
            ip=ip,
            user_agent=user_agent,
            timestamp=now,
        )
        self._put(token.model_copy(update={"last_used_at": now, "use_count": token.use_count + 1}))
        self._audit(event)

    async def flush_usage(self) -> None:
        """Nothing to flush: :meth:`record_usage` applies immediately."""

    async def record_audit_event(self, event: TokenAuditEvent) -> None:
        self._audit(copy_in(event))

    async def list_audit_events(
        self, *, token_id: str | None = None, limit: int = 100
    ) -> list[TokenAuditEvent]:
        check_limit(limit)
        events = [
            (seq, e)
            for seq, e in self._state.token_audit
            if token_id is None or e.token_id == token_id
        ]
        events.sort(key=lambda pair: (pair[1].timestamp, pair[0]), reverse=True)
        return [copy(e) for _, e in events[:limit]]
