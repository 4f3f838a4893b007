"""The SQLite listener store: subscriptions with leases, cursors and dedupe windows."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any
from uuid import UUID

from orcheo_storage.clock import ensure_utc, optional_utc, utcnow
from orcheo_storage.errors import SubscriptionNotFoundError, VersionNotFoundError
from orcheo_storage.jsoncodec import check_text
from orcheo_storage.models.common import build
from orcheo_storage.models.listeners import (
    ListenerCursor,
    ListenerStatus,
    ListenerSubscription,
    ListenerSubscriptionSpec,
)
from orcheo_storage.models.workflows import WorkflowRun
from orcheo_storage.rules import listeners as listener_rules
from orcheo_storage.rules.states import parse_state

from orcheo_storage_sqlite._shared import (
    build_run,
    disable_subscriptions,
    insert_run,
    require_workflow,
)
from orcheo_storage_sqlite.codec import from_ts, jdump, jload, ts
from orcheo_storage_sqlite.engine import Database
from orcheo_storage_sqlite.tables import SUBSCRIPTIONS, VERSIONS

_SET_EVENT = "UPDATE listener_subscriptions SET last_event_at = ? WHERE id = ?"
_UPSERT_CURSOR = """INSERT INTO listener_cursors (subscription_id, fields, metadata, updated_at)
VALUES (?, ?, ?, ?) ON CONFLICT (subscription_id) DO UPDATE SET fields = excluded.fields,
metadata = excluded.metadata, updated_at = excluded.updated_at"""
_GET_CURSOR = "SELECT fields, metadata, updated_at FROM listener_cursors WHERE subscription_id = ?"
_DEDUPE_EXPIRY = (
    "SELECT expires_at FROM listener_dedupe WHERE subscription_id = ? AND dedupe_key = ?"
)
_DEDUPE_SET = """INSERT INTO listener_dedupe (subscription_id, dedupe_key, expires_at, created_at)
VALUES (?, ?, ?, ?)
ON CONFLICT (subscription_id, dedupe_key)
DO UPDATE SET expires_at = excluded.expires_at, created_at = excluded.created_at"""
_PRUNE = "DELETE FROM listener_dedupe WHERE expires_at <= ?"


def _status(status: ListenerStatus | str) -> ListenerStatus:
    return parse_state(ListenerStatus, status, entity="listener", field="status")


def _require(conn: sqlite3.Connection, subscription_id: UUID) -> ListenerSubscription:
    sub = SUBSCRIPTIONS.fetch_one(conn, "id = ?", (str(subscription_id),))
    if sub is None:
        raise SubscriptionNotFoundError(subscription_id)
    return sub


def _dedupe_open(conn: sqlite3.Connection, sub_id: str, key: str, now: datetime) -> bool:
    """Whether ``key`` is free (never seen, or its window has expired)."""
    row = conn.execute(_DEDUPE_EXPIRY, (sub_id, key)).fetchone()
    return row is None or row[0] <= ts(now)


class SqliteListenerStore:
    """:class:`~orcheo_storage.protocols.coordination.ListenerStore` on the repository file."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def sync_subscriptions(
        self, workflow_id: UUID, workflow_version_id: UUID, specs: list[ListenerSubscriptionSpec]
    ) -> list[ListenerSubscription]:
        clean = [
            s if isinstance(s, ListenerSubscriptionSpec) else build(ListenerSubscriptionSpec, **s)
            for s in specs
        ]

        def job(conn: sqlite3.Connection) -> list[ListenerSubscription]:
            require_workflow(conn, workflow_id)
            version = VERSIONS.fetch_one(conn, "id = ?", (str(workflow_version_id),))
            if version is None or version.workflow_id != workflow_id:
                raise VersionNotFoundError(workflow_version_id)
            now = utcnow()
            disable_subscriptions(conn, workflow_id, reason="superseded", now=now)
            created = [
                listener_rules.new_subscription(
                    spec, workflow_id=workflow_id, version_id=workflow_version_id, now=now
                )
                for spec in clean
            ]
            for sub in created:
                SUBSCRIPTIONS.insert_row(conn, sub)
            return created

        return await self._db.write(job)

    async def list_subscriptions(self, workflow_id: UUID) -> list[ListenerSubscription]:
        return await self._db.read(
            lambda conn: SUBSCRIPTIONS.fetch_all(
                conn, "WHERE workflow_id = ? ORDER BY created_at, id", (str(workflow_id),)
            )
        )

    async def list_active_subscriptions(self) -> list[ListenerSubscription]:
        return await self._db.read(
            lambda conn: SUBSCRIPTIONS.fetch_all(
                conn, "WHERE status = 'active' ORDER BY created_at, id"
            )
        )

    async def get_subscription(self, subscription_id: UUID) -> ListenerSubscription:
        return await self._db.read(lambda conn: _require(conn, subscription_id))

    async def claim_subscription(
        self, subscription_id: UUID, *, runtime_id: str, lease_seconds: float
    ) -> ListenerSubscription | None:
        lease = listener_rules.check_lease_seconds(lease_seconds)
        check_text(runtime_id, "runtime_id")

        def job(conn: sqlite3.Connection) -> ListenerSubscription | None:
            # Under the write lock, so a claim is atomic across processes.
            sub = SUBSCRIPTIONS.fetch_one(conn, "id = ?", (str(subscription_id),))
            now = utcnow()
            if sub is None or not listener_rules.can_claim(sub, runtime_id, now):
                return None
            claimed = listener_rules.claim(sub, runtime_id, lease, now)
            SUBSCRIPTIONS.update_row(conn, claimed)
            return claimed

        return await self._db.write(job)

    async def release_subscription(self, subscription_id: UUID, *, runtime_id: str) -> bool:
        def job(conn: sqlite3.Connection) -> bool:
            sub = SUBSCRIPTIONS.fetch_one(conn, "id = ?", (str(subscription_id),))
            if sub is None:
                return False
            released = listener_rules.release(sub, runtime_id, utcnow())
            if released is None:
                return False
            SUBSCRIPTIONS.update_row(conn, released)
            return True

        return await self._db.write(job)

    async def update_subscription_status(
        self,
        subscription_id: UUID,
        status: ListenerStatus | str,
        *,
        actor: str,
        last_error: str | None = None,
    ) -> ListenerSubscription:
        target = _status(status)

        def job(conn: sqlite3.Connection) -> ListenerSubscription:
            sub = _require(conn, subscription_id)
            updated = listener_rules.set_status(
                sub, target, actor=actor, now=utcnow(), last_error=last_error
            )
            SUBSCRIPTIONS.update_row(conn, updated)
            return updated

        return await self._db.write(job)

    async def record_event(self, subscription_id: UUID, *, at: datetime) -> None:
        stamp = ts(ensure_utc(at, "at"))

        def job(conn: sqlite3.Connection) -> None:
            if conn.execute(_SET_EVENT, (stamp, str(subscription_id))).rowcount == 0:
                raise SubscriptionNotFoundError(subscription_id)

        await self._db.write(job)

    async def save_cursor(
        self,
        subscription_id: UUID,
        *,
        fields: dict[str, Any],
        metadata: dict[str, Any] | None = None,
    ) -> ListenerCursor:
        cursor = build(
            ListenerCursor,
            subscription_id=subscription_id,
            fields=fields,
            metadata=metadata or {},
            updated_at=utcnow(),
        )
        params = (
            str(subscription_id),
            jdump(cursor.fields),
            jdump(cursor.metadata),
            ts(cursor.updated_at),
        )

        def job(conn: sqlite3.Connection) -> None:
            _require(conn, subscription_id)
            conn.execute(_UPSERT_CURSOR, params)

        await self._db.write(job)
        return cursor

    async def get_cursor(self, subscription_id: UUID) -> ListenerCursor | None:
        row = await self._db.read(
            lambda conn: conn.execute(_GET_CURSOR, (str(subscription_id),)).fetchone()
        )
        if row is None:
            return None
        return ListenerCursor.model_validate(
            {
                "subscription_id": subscription_id,
                "fields": jload(row[0]),
                "metadata": jload(row[1]),
                "updated_at": from_ts(row[2]),
            }
        )

    async def record_dedupe(
        self, subscription_id: UUID, dedupe_key: str, *, window_seconds: float
    ) -> bool:
        now = utcnow()
        expires = listener_rules.dedupe_expiry(now, window_seconds)
        check_text(dedupe_key, "dedupe_key")
        sub_id = str(subscription_id)

        def job(conn: sqlite3.Connection) -> bool:
            _require(conn, subscription_id)
            if not _dedupe_open(conn, sub_id, dedupe_key, now):
                return False
            conn.execute(_DEDUPE_SET, (sub_id, dedupe_key, ts(expires), ts(now)))
            return True

        return await self._db.write(job)

    async def dispatch_event(
        self,
        subscription_id: UUID,
        dedupe_key: str,
        *,
        window_seconds: float,
        workflow_version_id: UUID,
        triggered_by: str,
        input_payload: dict[str, Any] | None = None,
        runnable_config: dict[str, Any] | None = None,
    ) -> WorkflowRun | None:
        now = utcnow()
        expires = listener_rules.dedupe_expiry(now, window_seconds)
        check_text(dedupe_key, "dedupe_key")
        sub_id = str(subscription_id)

        def job(conn: sqlite3.Connection) -> WorkflowRun | None:
            sub = _require(conn, subscription_id)
            if not _dedupe_open(conn, sub_id, dedupe_key, now):
                return None
            # One transaction: if the run cannot be built, no dedupe record is left.
            run = build_run(
                conn,
                sub.workflow_id,
                workflow_version_id=workflow_version_id,
                triggered_by=triggered_by,
                now=now,
                input_payload=input_payload,
                runnable_config=runnable_config,
            )
            conn.execute(_DEDUPE_SET, (sub_id, dedupe_key, ts(expires), ts(now)))
            insert_run(conn, run)
            return run

        return await self._db.write(job)

    async def prune_dedupe(self, *, now: datetime | None = None) -> int:
        cutoff = ts(optional_utc(now, "now") or utcnow())
        return await self._db.write(lambda conn: conn.execute(_PRUNE, (cutoff,)).rowcount)
