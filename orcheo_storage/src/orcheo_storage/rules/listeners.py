"""Listener subscriptions: sync, leases, status and dedupe windows."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from orcheo_storage.errors import ValidationError
from orcheo_storage.models.common import build
from orcheo_storage.models.listeners import (
    ListenerStatus,
    ListenerSubscription,
    ListenerSubscriptionSpec,
)
from orcheo_storage.rules.states import parse_state
from orcheo_storage.rules.workflows import audit


def new_subscription(
    spec: ListenerSubscriptionSpec, *, workflow_id: uuid.UUID, version_id: uuid.UUID, now: datetime
) -> ListenerSubscription:
    return build(
        ListenerSubscription,
        id=uuid.uuid4(),
        workflow_id=workflow_id,
        workflow_version_id=version_id,
        node_name=spec.node_name,
        platform=spec.platform,
        bot_identity_key=spec.bot_identity_key,
        config=spec.config,
        created_at=now,
        updated_at=now,
        audit_log=[audit("system", "subscription_created", now)],
    )


def disable(sub: ListenerSubscription, *, reason: str, now: datetime) -> ListenerSubscription:
    """Disable a subscription (clears the lease)."""
    event = audit("system", "subscription_disabled", now, {"reason": reason})
    return sub.model_copy(
        update={
            "status": ListenerStatus.DISABLED,
            "assigned_runtime": None,
            "lease_expires_at": None,
            "updated_at": now,
            "audit_log": [*sub.audit_log, event],
        }
    )


def check_lease_seconds(lease_seconds: float) -> timedelta:
    if not lease_seconds > 0:
        raise ValidationError("lease must be positive", field="lease_seconds")
    return timedelta(seconds=lease_seconds)


def can_claim(sub: ListenerSubscription, runtime_id: str, now: datetime) -> bool:
    """Active, and unleased, leased by ``runtime_id``, or leased with an expired lease."""
    if sub.status is not ListenerStatus.ACTIVE:
        return False
    if sub.assigned_runtime is None or sub.assigned_runtime == runtime_id:
        return True
    return sub.lease_expires_at is None or sub.lease_expires_at <= now


def claim(
    sub: ListenerSubscription, runtime_id: str, lease: timedelta, now: datetime
) -> ListenerSubscription:
    """Grant or renew the lease. Renewal by the holder adds no audit entry."""
    renewal = sub.assigned_runtime == runtime_id
    update: dict[str, Any] = {
        "assigned_runtime": runtime_id,
        "lease_expires_at": now + lease,
        "updated_at": now,
    }
    if not renewal:
        update["audit_log"] = [*sub.audit_log, audit(runtime_id, "subscription_claimed", now)]
    return sub.model_copy(update=update)


def release(
    sub: ListenerSubscription, runtime_id: str, now: datetime
) -> ListenerSubscription | None:
    """The released subscription, or ``None`` when ``runtime_id`` does not hold it."""
    if sub.assigned_runtime != runtime_id:
        return None
    event = audit(runtime_id, "subscription_released", now)
    return sub.model_copy(
        update={
            "assigned_runtime": None,
            "lease_expires_at": None,
            "updated_at": now,
            "audit_log": [*sub.audit_log, event],
        }
    )


def set_status(
    sub: ListenerSubscription,
    status: ListenerStatus | str,
    *,
    actor: str,
    now: datetime,
    last_error: str | None = None,
) -> ListenerSubscription:
    """Change status; always clears the lease."""
    target = parse_state(ListenerStatus, status, entity="subscription", field="status")
    event = audit(
        actor, "subscription_status_changed", now, {"from": sub.status.value, "to": target.value}
    )
    return build(
        ListenerSubscription,
        **{
            **sub.model_dump(),
            "status": target,
            "last_error": last_error,
            "assigned_runtime": None,
            "lease_expires_at": None,
            "updated_at": now,
            "audit_log": [*sub.audit_log, event],
        },
    )


def dedupe_expiry(now: datetime, window_seconds: float) -> datetime:
    if not window_seconds > 0:
        raise ValidationError("dedupe window must be positive", field="window_seconds")
    return now + timedelta(seconds=window_seconds)
