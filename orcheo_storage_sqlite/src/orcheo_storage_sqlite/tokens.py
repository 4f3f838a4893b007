"""The SQLite service-token store. Usage is applied immediately (``flush_usage`` is a no-op).

Lookup by hash is one indexed point query on the UNIQUE ``secret_hash`` column, on a
reader connection: it never waits for writers (WAL) and sees every committed revoke.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from orcheo_storage.clock import optional_utc, utcnow
from orcheo_storage.errors import DuplicateError, TokenNotFoundError
from orcheo_storage.models.common import build
from orcheo_storage.models.tokens import ServiceToken, TokenAuditEvent
from orcheo_storage.rules.pagination import check_limit
from orcheo_storage.rules.tokens import hashes_equal, stamp_created

from orcheo_storage_sqlite.codec import ts
from orcheo_storage_sqlite.engine import Database
from orcheo_storage_sqlite.tables import TOKEN_AUDIT, TOKENS

_BY_HASH = f"{TOKENS.select} WHERE secret_hash = ?"
_USED = """UPDATE service_tokens SET last_used_at = ?, use_count = use_count + 1
WHERE identifier = ?"""
_ACTIVE = """WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
ORDER BY issued_at, identifier"""


def _duplicate(exc: sqlite3.IntegrityError, identifier: str) -> DuplicateError:
    if "secret_hash" in str(exc):
        # Never echo a secret hash in an error.
        return DuplicateError("service token secret hash", "<redacted>")
    return DuplicateError("service token", identifier)


def _require(conn: sqlite3.Connection, identifier: str) -> ServiceToken:
    token = TOKENS.fetch_one(conn, "identifier = ?", (identifier,))
    if token is None:
        raise TokenNotFoundError(identifier)
    return token


class SqliteServiceTokenStore:
    """:class:`~orcheo_storage.protocols.tokens.ServiceTokenStore` on the token file."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, token: ServiceToken) -> ServiceToken:
        token = stamp_created(token, utcnow())
        params = TOKENS.params(token)

        def job(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(TOKENS.insert, params)
            except sqlite3.IntegrityError as exc:
                raise _duplicate(exc, token.identifier) from None

        await self._db.write(job)
        return token

    async def update(self, token: ServiceToken) -> ServiceToken:
        params = TOKENS.update_params(token)

        def job(conn: sqlite3.Connection) -> None:
            try:
                changed = conn.execute(TOKENS.update, params).rowcount
            except sqlite3.IntegrityError as exc:
                raise _duplicate(exc, token.identifier) from None
            if changed == 0:
                raise TokenNotFoundError(token.identifier)

        await self._db.write(job)
        return token

    async def delete(self, identifier: str) -> None:
        await self._db.write(
            lambda conn: conn.execute(
                "DELETE FROM service_tokens WHERE identifier = ?", (identifier,)
            )
        )

    async def get_by_id(self, identifier: str) -> ServiceToken:
        return await self._db.read(lambda conn: _require(conn, identifier))

    async def get_by_hash(self, secret_hash: str) -> ServiceToken | None:
        row = await self._db.read(lambda conn: conn.execute(_BY_HASH, (secret_hash,)).fetchone())
        if row is None:
            return None
        token = TOKENS.load(row)
        return token if hashes_equal(token.secret_hash, secret_hash) else None

    async def list_all(self) -> list[ServiceToken]:
        return await self._db.read(
            lambda conn: TOKENS.fetch_all(conn, "ORDER BY issued_at, identifier")
        )

    async def list_active(self, *, now: datetime | None = None) -> list[ServiceToken]:
        at = ts(optional_utc(now, "now") or utcnow())
        return await self._db.read(lambda conn: TOKENS.fetch_all(conn, _ACTIVE, (at,)))

    async def revoke(
        self, identifier: str, *, reason: str, actor: str | None = None
    ) -> ServiceToken:
        def job(conn: sqlite3.Connection) -> ServiceToken:
            token = _require(conn, identifier)
            if token.revoked_at is not None:
                return token
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
            TOKENS.update_row(conn, revoked)
            TOKEN_AUDIT.insert_row(conn, event)
            return revoked

        return await self._db.write(job)

    async def record_usage(
        self, identifier: str, *, ip: str | None = None, user_agent: str | None = None
    ) -> None:
        now = utcnow()
        event = build(
            TokenAuditEvent,
            token_id=identifier,
            action="used",
            ip=ip,
            user_agent=user_agent,
            timestamp=now,
        )
        params = TOKEN_AUDIT.params(event)

        def job(conn: sqlite3.Connection) -> None:
            if conn.execute(_USED, (ts(now), identifier)).rowcount == 0:
                raise TokenNotFoundError(identifier)
            conn.execute(TOKEN_AUDIT.insert, params)

        await self._db.write(job)

    async def flush_usage(self) -> None:
        """Nothing to flush: :meth:`record_usage` commits immediately."""

    async def record_audit_event(self, event: TokenAuditEvent) -> None:
        params = TOKEN_AUDIT.params(event)
        await self._db.write(lambda conn: conn.execute(TOKEN_AUDIT.insert, params))

    async def list_audit_events(
        self, *, token_id: str | None = None, limit: int = 100
    ) -> list[TokenAuditEvent]:
        check_limit(limit)
        if token_id is None:
            tail, args = "ORDER BY timestamp DESC, seq DESC LIMIT ?", (limit,)
        else:
            tail = "WHERE token_id = ? ORDER BY timestamp DESC, seq DESC LIMIT ?"
            args = (token_id, limit)  # type: ignore[assignment]
        return await self._db.read(lambda conn: TOKEN_AUDIT.fetch_all(conn, tail, args))
