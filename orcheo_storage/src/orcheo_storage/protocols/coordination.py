"""Coordination state: trigger configs, cron dispatch, retry counters, listeners, remediations."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from orcheo_storage.models.listeners import (
    ListenerCursor,
    ListenerStatus,
    ListenerSubscription,
    ListenerSubscriptionSpec,
)
from orcheo_storage.models.remediations import RemediationCandidate, RemediationStatus
from orcheo_storage.models.triggers import CronConfig, RetryPolicy, WebhookConfig
from orcheo_storage.models.workflows import WorkflowRun


@runtime_checkable
class TriggerStore(Protocol):
    """Per-workflow trigger configuration plus cron and retry state that survives restarts."""

    async def set_webhook_config(
        self, workflow_id: UUID, config: WebhookConfig | dict[str, Any]
    ) -> WebhookConfig:
        """Upsert (normalised; secrets stored encrypted). Raises ``WorkflowNotFoundError``."""
        ...

    async def get_webhook_config(self, workflow_id: UUID) -> WebhookConfig:
        """The stored config, or the default config when never set."""
        ...

    async def set_cron_config(
        self, workflow_id: UUID, config: CronConfig | dict[str, Any]
    ) -> CronConfig: ...

    async def get_cron_config(self, workflow_id: UUID) -> CronConfig:
        """Raises ``CronTriggerNotFoundError`` when never set (or deleted)."""
        ...

    async def delete_cron_config(self, workflow_id: UUID) -> None:
        """Idempotent."""
        ...

    async def list_cron_configs(self) -> dict[UUID, CronConfig]: ...

    async def set_retry_policy(
        self, workflow_id: UUID, policy: RetryPolicy | dict[str, Any]
    ) -> RetryPolicy: ...

    async def get_retry_policy(self, workflow_id: UUID) -> RetryPolicy:
        """The stored policy, or the default policy when never set."""
        ...

    async def get_last_dispatched(self, workflow_id: UUID) -> datetime | None: ...

    async def advance_cron_dispatch(
        self, workflow_id: UUID, *, expected: datetime | None, new: datetime
    ) -> bool:
        """Compare-and-set of the last dispatched slot; ``True`` for exactly one racing caller."""
        ...

    async def increment_retry_attempt(self, run_id: UUID) -> int:
        """Atomically add one to the run's attempt counter and return the new value."""
        ...

    async def get_retry_attempt(self, run_id: UUID) -> int: ...

    async def clear_retry_attempts(self, run_id: UUID) -> None: ...


@runtime_checkable
class ListenerStore(Protocol):
    """Listener subscriptions with leases, their cursors and dedupe windows."""

    async def sync_subscriptions(
        self, workflow_id: UUID, workflow_version_id: UUID, specs: list[ListenerSubscriptionSpec]
    ) -> list[ListenerSubscription]:
        """Create the version's subscriptions and disable every earlier non-disabled one, atomically."""
        ...

    async def list_subscriptions(self, workflow_id: UUID) -> list[ListenerSubscription]:
        """All of them (disabled included), oldest first."""
        ...

    async def list_active_subscriptions(self) -> list[ListenerSubscription]: ...

    async def get_subscription(self, subscription_id: UUID) -> ListenerSubscription: ...

    async def claim_subscription(
        self, subscription_id: UUID, *, runtime_id: str, lease_seconds: float
    ) -> ListenerSubscription | None:
        """Grant or renew a lease; ``None`` when missing, not active or leased by another
        runtime with an unexpired lease. Atomic across processes."""
        ...

    async def release_subscription(self, subscription_id: UUID, *, runtime_id: str) -> bool:
        """Release by the holder only; ``False`` otherwise."""
        ...

    async def update_subscription_status(
        self,
        subscription_id: UUID,
        status: ListenerStatus | str,
        *,
        actor: str,
        last_error: str | None = None,
    ) -> ListenerSubscription:
        """Change status; always clears the lease."""
        ...

    async def record_event(self, subscription_id: UUID, *, at: datetime) -> None:
        """Set last_event_at."""
        ...

    async def save_cursor(
        self,
        subscription_id: UUID,
        *,
        fields: dict[str, Any],
        metadata: dict[str, Any] | None = None,
    ) -> ListenerCursor: ...

    async def get_cursor(self, subscription_id: UUID) -> ListenerCursor | None: ...

    async def record_dedupe(
        self, subscription_id: UUID, dedupe_key: str, *, window_seconds: float
    ) -> bool:
        """``True`` the first time within the window, ``False`` for a duplicate."""
        ...

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
        """Record the dedupe key and create the run in one transaction; ``None`` for a
        duplicate. If the run cannot be created, no dedupe record is left behind."""
        ...

    async def prune_dedupe(self, *, now: datetime | None = None) -> int:
        """Delete expired dedupe keys; returns how many."""
        ...


@runtime_checkable
class RemediationStore(Protocol):
    """A work queue of remediation candidates with atomic claims."""

    async def create_candidate(
        self,
        *,
        workflow_id: UUID,
        workflow_version_id: UUID,
        run_id: UUID,
        fingerprint: str,
        version_checksum: str,
        context: dict[str, Any] | None = None,
        classification: str | None = None,
        graph_format: str | None = None,
        actor: str = "system",
    ) -> RemediationCandidate:
        """Idempotent per fingerprint while one is pending or claimed (returns the existing one)."""
        ...

    async def get_candidate(self, candidate_id: UUID) -> RemediationCandidate: ...

    async def claim_next(
        self, *, worker_id: str, max_attempts: int | None = None
    ) -> RemediationCandidate | None:
        """Oldest pending candidate under the attempt cap; no two workers get the same one."""
        ...

    async def transition_candidate(
        self,
        candidate_id: UUID,
        target: RemediationStatus | str,
        *,
        action: str | None = None,
        developer_note: str | None = None,
        artifacts: dict[str, Any] | None = None,
        validation_result: dict[str, Any] | None = None,
        last_error: str | None = None,
        created_version_id: UUID | None = None,
        actor: str | None = None,
    ) -> RemediationCandidate: ...

    async def list_candidates(
        self,
        *,
        workflow_id: UUID | None = None,
        status: RemediationStatus | str | None = None,
        limit: int = 100,
    ) -> list[RemediationCandidate]:
        """Newest first (created_at, id descending)."""
        ...
