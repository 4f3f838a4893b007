"""In-memory listener store: subscriptions with leases, cursors and dedupe windows."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from orcheo_storage.clock import ensure_utc, optional_utc, utcnow
from orcheo_storage.errors import (
    SubscriptionNotFoundError,
    VersionNotFoundError,
)
from orcheo_storage.jsoncodec import check_text
from orcheo_storage.memory._lifecycle import refuses_when_closed
from orcheo_storage.memory._state import MemoryState, copy, copy_in, sort_key_id
from orcheo_storage.memory.workflows import build_run, require_workflow
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


def _status(status: ListenerStatus | str) -> ListenerStatus:
    return parse_state(ListenerStatus, status, entity="listener", field="status")


def _ordered(subs: list[ListenerSubscription]) -> list[ListenerSubscription]:
    return [copy(s) for s in sorted(subs, key=lambda s: sort_key_id(s.created_at, s.id))]


@refuses_when_closed
class MemoryListenerStore:
    """:class:`~orcheo_storage.protocols.coordination.ListenerStore` over a session's state."""

    def __init__(self, state: MemoryState) -> None:
        self._state = state

    def _require(self, subscription_id: UUID) -> ListenerSubscription:
        sub = self._state.subscriptions.get(subscription_id)
        if sub is None:
            raise SubscriptionNotFoundError(subscription_id)
        return sub

    async def sync_subscriptions(
        self, workflow_id: UUID, workflow_version_id: UUID, specs: list[ListenerSubscriptionSpec]
    ) -> list[ListenerSubscription]:
        require_workflow(self._state, workflow_id)
        version = self._state.versions.get(workflow_version_id)
        if version is None or version.workflow_id != workflow_id:
            raise VersionNotFoundError(workflow_version_id)
        now = utcnow()
        clean = [
            copy_in(s)
            if isinstance(s, ListenerSubscriptionSpec)
            else build(ListenerSubscriptionSpec, **s)
            for s in specs
        ]
        created = [
            listener_rules.new_subscription(
                spec, workflow_id=workflow_id, version_id=workflow_version_id, now=now
            )
            for spec in clean
        ]
        subs = self._state.subscriptions
        for sub_id, sub in list(subs.items()):
            if sub.workflow_id == workflow_id and sub.status is not ListenerStatus.DISABLED:
                subs[sub_id] = listener_rules.disable(sub, reason="superseded", now=now)
        for sub in created:
            subs[sub.id] = sub
        return [copy(s) for s in created]

    async def list_subscriptions(self, workflow_id: UUID) -> list[ListenerSubscription]:
        return _ordered(
            [s for s in self._state.subscriptions.values() if s.workflow_id == workflow_id]
        )

    async def list_active_subscriptions(self) -> list[ListenerSubscription]:
        return _ordered(
            [s for s in self._state.subscriptions.values() if s.status is ListenerStatus.ACTIVE]
        )

    async def get_subscription(self, subscription_id: UUID) -> ListenerSubscription:
        return copy(self._require(subscription_id))

    async def claim_subscription(
        self, subscription_id: UUID, *, runtime_id: str, lease_seconds: float
    ) -> ListenerSubscription | None:
        lease = listener_rules.check_lease_seconds(lease_seconds)
        check_text(runtime_id, "runtime_id")
        sub = self._state.subscriptions.get(subscription_id)
        now = utcnow()
        if sub is None or not listener_rules.can_claim(sub, runtime_id, now):
            return None
        claimed = listener_rules.claim(sub, runtime_id, lease, now)
        self._state.subscriptions[subscription_id] = claimed
        return copy(claimed)

    async def release_subscription(self, subscription_id: UUID, *, runtime_id: str) -> bool:
        sub = self._state.subscriptions.get(subscription_id)
        if sub is None:
            return False
        released = listener_rules.release(sub, runtime_id, utcnow())
        if released is None:
            return False
        self._state.subscriptions[subscription_id] = released
        return True

    async def update_subscription_status(
        self,
        subscription_id: UUID,
        status: ListenerStatus | str,
        *,
        actor: str,
        last_error: str | None = None,
    ) -> ListenerSubscription:
        target = _status(status)
        sub = self._require(subscription_id)
        updated = listener_rules.set_status(
            sub, target, actor=actor, now=utcnow(), last_error=last_error
        )
        self._state.subscriptions[subscription_id] = updated
        return copy(updated)

    async def record_event(self, subscription_id: UUID, *, at: datetime) -> None:
        stamp = ensure_utc(at, "at")
        sub = self._require(subscription_id)
        self._state.subscriptions[subscription_id] = sub.model_copy(update={"last_event_at": stamp})

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
        self._require(subscription_id)
        self._state.cursors[subscription_id] = cursor
        return copy(cursor)

    async def get_cursor(self, subscription_id: UUID) -> ListenerCursor | None:
        cursor = self._state.cursors.get(subscription_id)
        return None if cursor is None else copy(cursor)

    def _dedupe_open(self, subscription_id: UUID, dedupe_key: str, now: datetime) -> bool:
        """Whether ``dedupe_key`` is free (never seen, or its window has expired)."""
        entry = self._state.dedupe.get((subscription_id, dedupe_key))
        return entry is None or entry[0] <= now

    async def record_dedupe(
        self, subscription_id: UUID, dedupe_key: str, *, window_seconds: float
    ) -> bool:
        now = utcnow()
        expires = listener_rules.dedupe_expiry(now, window_seconds)
        check_text(dedupe_key, "dedupe_key")
        self._require(subscription_id)
        if not self._dedupe_open(subscription_id, dedupe_key, now):
            return False
        self._state.dedupe[(subscription_id, dedupe_key)] = (expires, now)
        return True

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
        sub = self._require(subscription_id)
        if not self._dedupe_open(subscription_id, dedupe_key, now):
            return None
        # Build (and so validate) the run before writing anything: a failure leaves no
        # dedupe record behind.
        run = build_run(
            self._state,
            sub.workflow_id,
            workflow_version_id=workflow_version_id,
            triggered_by=triggered_by,
            now=now,
            input_payload=input_payload,
            runnable_config=runnable_config,
        )
        self._state.dedupe[(subscription_id, dedupe_key)] = (expires, now)
        self._state.put_run(run)
        return copy(run)

    async def prune_dedupe(self, *, now: datetime | None = None) -> int:
        cutoff = optional_utc(now, "now") or utcnow()
        expired = [key for key, (expires, _) in self._state.dedupe.items() if expires <= cutoff]
        for key in expired:
            del self._state.dedupe[key]
        return len(expired)
