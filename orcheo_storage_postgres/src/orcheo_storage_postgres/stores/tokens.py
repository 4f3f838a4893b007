"""Service tokens on PostgreSQL: hash lookup is one unique-index probe."""

from __future__ import annotations

from datetime import datetime

from orcheo_storage.clock import ensure_utc, utcnow
from orcheo_storage.errors import DuplicateError, TokenNotFoundError
from orcheo_storage.models.common import build
from orcheo_storage.models.tokens import ServiceToken, TokenAuditEvent
from orcheo_storage.rules.pagination import check_limit
from orcheo_storage.rules.tokens import stamp_created

from orcheo_storage_postgres._db import Db, q_one
from orcheo_storage_postgres._errors import UniqueViolation
from orcheo_storage_postgres._rows import json_text
from orcheo_storage_postgres.stores._codecs import TOKEN_AUDIT, TOKENS

_GET = TOKENS.select("identifier = %(id)s")
_GET_FOR_UPDATE = TOKENS.select("identifier = %(id)s", "FOR UPDATE")
_BY_HASH = TOKENS.select("secret_hash = %(h)s")
_LIST = TOKENS.select("TRUE", "ORDER BY issued_at, identifier")
_LIST_ACTIVE = TOKENS.select(
    "revoked_at IS NULL AND (expires_at IS NULL OR expires_at > %(now)s)",
    "ORDER BY issued_at, identifier",
)
_UPDATE = TOKENS.update_all("identifier")
_DELETE = "DELETE FROM service_tokens WHERE identifier = %s"
# Usage and its audit entry in one statement (one round trip, one transaction).
_USE = """
WITH t AS (
    UPDATE service_tokens SET last_used_at = %(now)s, use_count = use_count + 1
    WHERE identifier = %(id)s RETURNING identifier
)
INSERT INTO service_token_audit (token_id, action, actor, ip, user_agent, "timestamp", details)
SELECT t.identifier, 'used', NULL, %(ip)s, %(ua)s, %(now)s, %(details)s FROM t
RETURNING seq
"""
# Newest first by the event's own timestamp (callers record events with theirs), then by
# recording order; as on every backend.
_AUDIT_LIST = TOKEN_AUDIT.select("TRUE", 'ORDER BY "timestamp" DESC, seq DESC LIMIT %(n)s')
_AUDIT_LIST_FOR = TOKEN_AUDIT.select(
    "token_id = %(tid)s", 'ORDER BY "timestamp" DESC, seq DESC LIMIT %(n)s'
)


class PostgresServiceTokenStore:
    """:class:`~orcheo_storage.protocols.tokens.ServiceTokenStore` on PostgreSQL.

    Usage is written through (not coalesced): one statement per use is cheap on
    PostgreSQL, so ``flush_usage`` has nothing to do.
    """

    def __init__(self, db: Db) -> None:
        self._db = db

    async def create(self, token: ServiceToken) -> ServiceToken:
        token = stamp_created(token, utcnow())
        try:
            await self._db.run(TOKENS.insert_sql, TOKENS.params(token))
        except UniqueViolation as exc:
            if exc.constraint == "service_tokens_secret_hash":
                # Never echo a secret hash (not even a prefix), as on every backend.
                raise DuplicateError("service token secret hash", "<redacted>") from None
            raise DuplicateError("service token", token.identifier) from None
        return token

    async def update(self, token: ServiceToken) -> ServiceToken:
        try:
            count = await self._db.run(_UPDATE, TOKENS.params(token))
        except UniqueViolation:
            # The identifier is the row's key, so only the hash can clash.
            raise DuplicateError("service token secret hash", "<redacted>") from None
        if count == 0:
            raise TokenNotFoundError(token.identifier)
        return token

    async def delete(self, identifier: str) -> None:
        await self._db.run(_DELETE, (identifier,))

    async def get_by_id(self, identifier: str) -> ServiceToken:
        row = await self._db.read_one(_GET, {"id": identifier})
        if row is None:
            raise TokenNotFoundError(identifier)
        return TOKENS.load(row)

    async def get_by_hash(self, secret_hash: str) -> ServiceToken | None:
        row = await self._db.read_one(_BY_HASH, {"h": secret_hash})
        return None if row is None else TOKENS.load(row)

    async def list_all(self) -> list[ServiceToken]:
        return [TOKENS.load(r) for r in await self._db.read_all(_LIST)]

    async def list_active(self, *, now: datetime | None = None) -> list[ServiceToken]:
        at = ensure_utc(now) if now is not None else utcnow()
        return [TOKENS.load(r) for r in await self._db.read_all(_LIST_ACTIVE, {"now": at})]

    async def revoke(
        self, identifier: str, *, reason: str, actor: str | None = None
    ) -> ServiceToken:
        now = utcnow()
        async with self._db.transaction() as conn:
            row = await q_one(conn, _GET_FOR_UPDATE, {"id": identifier})
            if row is None:
                raise TokenNotFoundError(identifier)
            current = TOKENS.load(row)
            if current.revoked_at is not None:
                return current  # already revoked: the first revocation stands, as everywhere
            revoked = current.model_copy(update={"revoked_at": now, "revocation_reason": reason})
            revoked = build(ServiceToken, **revoked.model_dump())
            await conn.execute(_UPDATE, TOKENS.params(revoked))
            event = build(
                TokenAuditEvent,
                token_id=identifier,
                action="revoked",
                actor=actor,
                timestamp=now,
                details={"reason": reason},
            )
            await conn.execute(TOKEN_AUDIT.insert_sql, TOKEN_AUDIT.params(event))
        return revoked

    async def record_usage(
        self, identifier: str, *, ip: str | None = None, user_agent: str | None = None
    ) -> None:
        event = build(
            TokenAuditEvent,
            token_id=identifier,
            action="used",
            ip=ip,
            user_agent=user_agent,
            timestamp=utcnow(),
        )
        row = await self._db.one(
            _USE,
            {
                "id": identifier,
                "now": event.timestamp,
                "ip": event.ip,
                "ua": event.user_agent,
                "details": json_text(event.details),
            },
        )
        if row is None:
            raise TokenNotFoundError(identifier)

    async def flush_usage(self) -> None:
        return None

    async def record_audit_event(self, event: TokenAuditEvent) -> None:
        await self._db.run(TOKEN_AUDIT.insert_sql, TOKEN_AUDIT.params(event))

    async def list_audit_events(
        self, *, token_id: str | None = None, limit: int = 100
    ) -> list[TokenAuditEvent]:
        check_limit(limit)
        if token_id is None:
            rows = await self._db.read_all(_AUDIT_LIST, {"n": limit})
        else:
            rows = await self._db.read_all(_AUDIT_LIST_FOR, {"tid": token_id, "n": limit})
        return [TOKEN_AUDIT.load(r) for r in rows]
