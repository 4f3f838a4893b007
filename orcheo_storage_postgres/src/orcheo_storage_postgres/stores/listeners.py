"""Listener subscriptions (leases), cursors and dedupe windows on PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from orcheo_storage.clock import ensure_utc, utcnow
from orcheo_storage.errors import (
    SubscriptionNotFoundError,
    VersionNotFoundError,
    WorkflowNotFoundError,
)
from orcheo_storage.models.common import build
from orcheo_storage.models.listeners import (
    ListenerCursor,
    ListenerStatus,
    ListenerSubscription,
    ListenerSubscriptionSpec,
)
from orcheo_storage.models.workflows import WorkflowRun
from orcheo_storage.rules import listeners as rules
from orcheo_storage.rules.states import parse_state

from orcheo_storage_postgres._db import Conn, Db, q_all, q_one
from orcheo_storage_postgres._errors import ForeignKeyViolation
from orcheo_storage_postgres.stores._codecs import CURSORS, SUBSCRIPTIONS
from orcheo_storage_postgres.stores.workflows import insert_run

_LOCK_WORKFLOW = "SELECT id FROM workflows WHERE id = %s FOR UPDATE"
_EARLIER_FOR_UPDATE = SUBSCRIPTIONS.select(
    "workflow_id = %(wf)s AND status <> 'disabled'", "ORDER BY created_at, id FOR UPDATE"
)
_UPDATE = SUBSCRIPTIONS.update_all("id", skip=("created_at",))
_LIST = SUBSCRIPTIONS.select("workflow_id = %(wf)s", "ORDER BY created_at, id")
_LIST_ACTIVE = SUBSCRIPTIONS.select("status = 'active'", "ORDER BY created_at, id")
_VERSION_OWNER = "SELECT workflow_id FROM workflow_versions WHERE id = %s"
_GET = SUBSCRIPTIONS.select("id = %(id)s")
_GET_FOR_UPDATE = SUBSCRIPTIONS.select("id = %(id)s", "FOR UPDATE")
_RECORD_EVENT = "UPDATE listener_subscriptions SET last_event_at = %s WHERE id = %s"
_UPSERT_CURSOR = (
    "INSERT INTO listener_cursors (subscription_id, fields, metadata, updated_at) "
    "VALUES (%(subscription_id)s, %(fields)s, %(metadata)s, %(updated_at)s) "
    "ON CONFLICT (subscription_id) DO UPDATE SET fields = excluded.fields, "
    "metadata = excluded.metadata, updated_at = excluded.updated_at"
)
_GET_CURSOR = CURSORS.select("subscription_id = %(id)s")
# A key is new when absent or when its previous window has expired (then it is renewed).
_DEDUPE = (
    "INSERT INTO listener_dedupe (subscription_id, dedupe_key, expires_at, created_at) "
    "VALUES (%(sub)s, %(key)s, %(expires)s, %(now)s) ON CONFLICT (subscription_id, dedupe_key) "
    "DO UPDATE SET expires_at = excluded.expires_at, created_at = excluded.created_at "
    "WHERE listener_dedupe.expires_at <= %(now)s RETURNING dedupe_key"
)
_PRUNE = "DELETE FROM listener_dedupe WHERE expires_at <= %s"


class PostgresListenerStore:
    """:class:`~orcheo_storage.protocols.coordination.ListenerStore` on PostgreSQL."""

    def __init__(self, db: Db) -> None:
        self._db = db

    async def sync_subscriptions(
        self, workflow_id: UUID, workflow_version_id: UUID, specs: list[ListenerSubscriptionSpec]
    ) -> list[ListenerSubscription]:
        now = utcnow()
        created = [
            rules.new_subscription(
                spec
                if isinstance(spec, ListenerSubscriptionSpec)
                else build(ListenerSubscriptionSpec, **spec),
                workflow_id=workflow_id,
                version_id=workflow_version_id,
                now=now,
            )
            for spec in specs
        ]
        async with self._db.transaction() as conn:
            # Locking the workflow row serialises concurrent syncs of one workflow.
            if await q_one(conn, _LOCK_WORKFLOW, (workflow_id,)) is None:
                raise WorkflowNotFoundError(workflow_id)
            owner = await q_one(conn, _VERSION_OWNER, (workflow_version_id,))
            if owner is None or owner["workflow_id"] != workflow_id:
                raise VersionNotFoundError(workflow_version_id)
            for row in await q_all(conn, _EARLIER_FOR_UPDATE, {"wf": workflow_id}):
                old = rules.disable(SUBSCRIPTIONS.load(row), reason="superseded", now=now)
                await conn.execute(_UPDATE, SUBSCRIPTIONS.params(old))
            for sub in created:
                await conn.execute(SUBSCRIPTIONS.insert_sql, SUBSCRIPTIONS.params(sub))
        return created

    async def list_subscriptions(self, workflow_id: UUID) -> list[ListenerSubscription]:
        return [SUBSCRIPTIONS.load(r) for r in await self._db.read_all(_LIST, {"wf": workflow_id})]

    async def list_active_subscriptions(self) -> list[ListenerSubscription]:
        return [SUBSCRIPTIONS.load(r) for r in await self._db.read_all(_LIST_ACTIVE)]

    async def get_subscription(self, subscription_id: UUID) -> ListenerSubscription:
        row = await self._db.read_one(_GET, {"id": subscription_id})
        if row is None:
            raise SubscriptionNotFoundError(subscription_id)
        return SUBSCRIPTIONS.load(row)

    async def claim_subscription(
        self, subscription_id: UUID, *, runtime_id: str, lease_seconds: float
    ) -> ListenerSubscription | None:
        lease = rules.check_lease_seconds(lease_seconds)
        async with self._db.transaction() as conn:
            row = await q_one(conn, _GET_FOR_UPDATE, {"id": subscription_id})
            if row is None:
                return None
            now = utcnow()
            sub = SUBSCRIPTIONS.load(row)
            if not rules.can_claim(sub, runtime_id, now):
                return None
            claimed = rules.claim(sub, runtime_id, lease, now)
            await conn.execute(_UPDATE, SUBSCRIPTIONS.params(claimed))
            return claimed

    async def release_subscription(self, subscription_id: UUID, *, runtime_id: str) -> bool:
        async with self._db.transaction() as conn:
            row = await q_one(conn, _GET_FOR_UPDATE, {"id": subscription_id})
            if row is None:
                return False
            released = rules.release(SUBSCRIPTIONS.load(row), runtime_id, utcnow())
            if released is None:
                return False
            await conn.execute(_UPDATE, SUBSCRIPTIONS.params(released))
            return True

    async def update_subscription_status(
        self,
        subscription_id: UUID,
        status: ListenerStatus | str,
        *,
        actor: str,
        last_error: str | None = None,
    ) -> ListenerSubscription:
        target = parse_state(ListenerStatus, status, entity="listener", field="status")
        async with self._db.transaction() as conn:
            row = await q_one(conn, _GET_FOR_UPDATE, {"id": subscription_id})
            if row is None:
                raise SubscriptionNotFoundError(subscription_id)
            updated = rules.set_status(
                SUBSCRIPTIONS.load(row), target, actor=actor, now=utcnow(), last_error=last_error
            )
            await conn.execute(_UPDATE, SUBSCRIPTIONS.params(updated))
            return updated

    async def record_event(self, subscription_id: UUID, *, at: datetime) -> None:
        if await self._db.run(_RECORD_EVENT, (ensure_utc(at), subscription_id)) == 0:
            raise SubscriptionNotFoundError(subscription_id)

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
        try:
            await self._db.run(_UPSERT_CURSOR, CURSORS.params(cursor))
        except ForeignKeyViolation:
            raise SubscriptionNotFoundError(subscription_id) from None
        return cursor

    async def get_cursor(self, subscription_id: UUID) -> ListenerCursor | None:
        row = await self._db.read_one(_GET_CURSOR, {"id": subscription_id})
        return None if row is None else CURSORS.load(row)

    @staticmethod
    async def _dedupe(conn: Conn, subscription_id: UUID, key: str, window: float) -> bool:
        now = utcnow()
        params = {
            "sub": subscription_id,
            "key": key,
            "expires": rules.dedupe_expiry(now, window),
            "now": now,
        }
        return await q_one(conn, _DEDUPE, params) is not None

    async def record_dedupe(
        self, subscription_id: UUID, dedupe_key: str, *, window_seconds: float
    ) -> bool:
        rules.dedupe_expiry(utcnow(), window_seconds)
        try:
            async with self._db.connection() as conn:
                return await self._dedupe(conn, subscription_id, dedupe_key, window_seconds)
        except ForeignKeyViolation:
            raise SubscriptionNotFoundError(subscription_id) from None

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
        rules.dedupe_expiry(utcnow(), window_seconds)
        sub = await self.get_subscription(subscription_id)
        # One transaction: if the run cannot be created the dedupe row rolls back with it.
        async with self._db.transaction() as conn:
            if not await self._dedupe(conn, subscription_id, dedupe_key, window_seconds):
                return None
            return await insert_run(
                conn,
                sub.workflow_id,
                workflow_version_id=workflow_version_id,
                triggered_by=triggered_by,
                input_payload=input_payload,
                runnable_config=runnable_config,
            )

    async def prune_dedupe(self, *, now: datetime | None = None) -> int:
        return await self._db.run(_PRUNE, (ensure_utc(now) if now else utcnow(),))
