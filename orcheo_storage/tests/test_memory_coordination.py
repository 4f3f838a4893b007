"""Smoke tests of the memory backend's triggers, listeners and remediations."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from orcheo_storage.errors import (
    CronTriggerNotFoundError,
    InvalidTransitionError,
    SubscriptionNotFoundError,
    ValidationError,
    VersionNotFoundError,
    WorkflowNotFoundError,
)
from orcheo_storage.models import (
    ListenerStatus,
    ListenerSubscriptionSpec,
    RemediationStatus,
    WebhookConfig,
    Workflow,
    WorkflowVersion,
)
from orcheo_storage.settings import StorageSettings
from orcheo_storage.storage import Storage, open_storage


def memory_settings() -> StorageSettings:
    """Every subsystem on the memory backend."""
    return StorageSettings(
        repository_backend="memory",
        checkpoint_backend="memory",
        chatkit_backend="memory",
        vault_backend="memory",
        auth_service_token_backend="memory",
    )


SPEC = ListenerSubscriptionSpec(node_name="listen", platform="slack", bot_identity_key="bot")


@pytest.fixture
async def storage() -> AsyncIterator[Storage]:
    async with open_storage(memory_settings()) as opened:
        yield opened


@pytest.fixture
async def flow(storage: Storage) -> tuple[Workflow, WorkflowVersion]:
    wf = await storage.workflows.create_workflow(name="Flow", actor="a")
    version = await storage.workflows.create_version(wf.id, graph={}, created_by="a")
    return wf, version


async def test_webhook_config_normalised_and_sealed(
    storage: Storage, flow: tuple[Workflow, WorkflowVersion]
) -> None:
    wf, _ = flow
    triggers = storage.triggers
    assert await triggers.get_webhook_config(wf.id) == WebhookConfig()
    saved = await triggers.set_webhook_config(
        wf.id,
        {
            "allowed_methods": ["post", "get", "POST"],
            "required_headers": {"X-Token": "1"},
            "shared_secret": "hunter2",
        },
    )
    assert saved.allowed_methods == ["GET", "POST"]
    assert saved.required_headers == {"x-token": "1"}
    read = await triggers.get_webhook_config(wf.id)
    assert read.shared_secret is not None
    assert read.shared_secret.get_secret_value() == "hunter2"
    exported = [
        row
        async for batch in storage.sessions()["memory"].bulk().export_rows("webhook_triggers")
        for row in batch
    ]
    assert "hunter2" not in repr(exported)
    config = exported[0]["config"]
    assert isinstance(config, dict)
    envelope = config["shared_secret"]
    assert isinstance(envelope, dict)
    assert envelope["ciphertext"]
    with pytest.raises(WorkflowNotFoundError):
        await triggers.set_webhook_config(uuid.uuid4(), {})


async def test_cron_retry_and_dispatch(
    storage: Storage, flow: tuple[Workflow, WorkflowVersion]
) -> None:
    wf, _ = flow
    triggers = storage.triggers
    with pytest.raises(CronTriggerNotFoundError):
        await triggers.get_cron_config(wf.id)
    cron = await triggers.set_cron_config(wf.id, {"expression": " */5   * * * * "})
    assert cron.expression == "*/5 * * * *"
    assert (await triggers.list_cron_configs()) == {wf.id: cron}
    await triggers.delete_cron_config(wf.id)
    await triggers.delete_cron_config(wf.id)
    with pytest.raises(CronTriggerNotFoundError):
        await triggers.get_cron_config(wf.id)
    with pytest.raises(ValidationError):
        await triggers.set_cron_config(wf.id, {"expression": "  "})
    assert (await triggers.get_retry_policy(wf.id)).max_attempts == 3
    assert (await triggers.set_retry_policy(wf.id, {"max_attempts": 5})).max_attempts == 5
    assert (await triggers.get_retry_policy(wf.id)).max_attempts == 5

    slot = datetime(2026, 1, 1, 12, 0)  # naive: read as UTC
    results = await asyncio.gather(
        *(triggers.advance_cron_dispatch(wf.id, expected=None, new=slot) for _ in range(3))
    )
    assert sorted(results) == [False, False, True]
    assert await triggers.get_last_dispatched(wf.id) == slot.replace(tzinfo=UTC)
    assert not await triggers.advance_cron_dispatch(
        wf.id, expected=slot, new=slot - timedelta(minutes=5)
    )

    run_id = uuid.uuid4()
    assert await triggers.get_retry_attempt(run_id) == 0
    counts = await asyncio.gather(*(triggers.increment_retry_attempt(run_id) for _ in range(4)))
    assert sorted(counts) == [1, 2, 3, 4]
    await triggers.clear_retry_attempts(run_id)
    assert await triggers.get_retry_attempt(run_id) == 0


async def test_listener_sync_claim_release_status(
    storage: Storage, flow: tuple[Workflow, WorkflowVersion]
) -> None:
    wf, v1 = flow
    listeners = storage.listeners
    [first] = await listeners.sync_subscriptions(wf.id, v1.id, [SPEC])
    v2 = await storage.workflows.create_version(wf.id, graph={"v": 2}, created_by="a")
    [second] = await listeners.sync_subscriptions(wf.id, v2.id, [SPEC])
    listed = await listeners.list_subscriptions(wf.id)
    assert [s.id for s in listed] == [first.id, second.id]
    assert listed[0].status is ListenerStatus.DISABLED
    assert [s.id for s in await listeners.list_active_subscriptions()] == [second.id]
    with pytest.raises(VersionNotFoundError):
        await listeners.sync_subscriptions(wf.id, uuid.uuid4(), [SPEC])

    claims = await asyncio.gather(
        *(
            listeners.claim_subscription(second.id, runtime_id=f"rt{i}", lease_seconds=30)
            for i in range(4)
        )
    )
    winners = [c for c in claims if c is not None]
    assert len(winners) == 1
    holder = winners[0].assigned_runtime
    assert holder is not None
    audit_len = len(winners[0].audit_log)
    renewed = await listeners.claim_subscription(second.id, runtime_id=holder, lease_seconds=60)
    assert renewed is not None
    assert len(renewed.audit_log) == audit_len
    assert await listeners.claim_subscription(first.id, runtime_id="x", lease_seconds=1) is None
    assert await listeners.claim_subscription(uuid.uuid4(), runtime_id="x", lease_seconds=1) is None
    with pytest.raises(ValidationError):
        await listeners.claim_subscription(second.id, runtime_id="x", lease_seconds=0)
    assert not await listeners.release_subscription(second.id, runtime_id="someone-else")
    assert await listeners.release_subscription(second.id, runtime_id=holder)

    await listeners.claim_subscription(second.id, runtime_id="rt", lease_seconds=30)
    paused = await listeners.update_subscription_status(second.id, "paused", actor="ops")
    assert paused.status is ListenerStatus.PAUSED
    assert paused.assigned_runtime is None
    with pytest.raises(ValidationError):
        await listeners.update_subscription_status(second.id, "bogus", actor="ops")
    with pytest.raises(SubscriptionNotFoundError):
        await listeners.get_subscription(uuid.uuid4())
    at = datetime(2026, 5, 1, tzinfo=UTC)
    await listeners.record_event(second.id, at=at)
    assert (await listeners.get_subscription(second.id)).last_event_at == at


async def test_listener_cursor_and_dedupe(
    storage: Storage, flow: tuple[Workflow, WorkflowVersion]
) -> None:
    wf, v1 = flow
    listeners = storage.listeners
    [sub] = await listeners.sync_subscriptions(wf.id, v1.id, [SPEC])
    assert await listeners.get_cursor(sub.id) is None
    await listeners.save_cursor(sub.id, fields={"offset": 1})
    cursor = await listeners.save_cursor(sub.id, fields={"offset": 2}, metadata={"m": True})
    got = await listeners.get_cursor(sub.id)
    assert got == cursor
    assert got.fields == {"offset": 2}

    assert await listeners.record_dedupe(sub.id, "k", window_seconds=60)
    assert not await listeners.record_dedupe(sub.id, "k", window_seconds=60)
    assert await listeners.record_dedupe(sub.id, "short", window_seconds=0.001)
    await asyncio.sleep(0.01)
    assert await listeners.prune_dedupe() == 1
    assert await listeners.record_dedupe(sub.id, "short", window_seconds=60)

    run = await listeners.dispatch_event(
        sub.id, "evt", window_seconds=60, workflow_version_id=v1.id, triggered_by="listener"
    )
    assert run is not None
    assert run.workflow_id == wf.id
    again = await listeners.dispatch_event(
        sub.id, "evt", window_seconds=60, workflow_version_id=v1.id, triggered_by="listener"
    )
    assert again is None
    with pytest.raises(VersionNotFoundError):
        await listeners.dispatch_event(
            sub.id, "bad", window_seconds=60, workflow_version_id=uuid.uuid4(), triggered_by="l"
        )
    # The failed dispatch left no dedupe record behind.
    assert await listeners.record_dedupe(sub.id, "bad", window_seconds=60)


async def test_remediation_queue(storage: Storage, flow: tuple[Workflow, WorkflowVersion]) -> None:
    wf, v1 = flow
    remediations = storage.remediations

    async def create(fingerprint: str):  # type: ignore[no-untyped-def]
        return await remediations.create_candidate(
            workflow_id=wf.id,
            workflow_version_id=v1.id,
            run_id=uuid.uuid4(),
            fingerprint=fingerprint,
            version_checksum=v1.checksum,
        )

    first = await create("fp-1")
    assert (await create("fp-1")).id == first.id
    second = await create("fp-2")
    claims = await asyncio.gather(*(remediations.claim_next(worker_id=f"w{i}") for i in range(3)))
    claimed = [c for c in claims if c is not None]
    assert sorted(c.id for c in claimed) == sorted([first.id, second.id])
    assert all(c.attempt_count == 1 for c in claimed)
    fixed = await remediations.transition_candidate(first.id, "fixed", action="patched")
    assert fixed.status is RemediationStatus.FIXED
    assert fixed.action == "patched"
    with pytest.raises(InvalidTransitionError):
        await remediations.transition_candidate(first.id, RemediationStatus.PENDING)
    await remediations.transition_candidate(second.id, "pending")
    assert await remediations.claim_next(worker_id="w", max_attempts=1) is None
    assert (await remediations.claim_next(worker_id="w", max_attempts=2)) is not None
    assert (await create("fp-1")).id != first.id  # fixed -> a new candidate may be created
    listed = await remediations.list_candidates(workflow_id=wf.id)
    assert [c.created_at for c in listed] == sorted((c.created_at for c in listed), reverse=True)
    assert [c.id for c in await remediations.list_candidates(status="fixed")] == [first.id]
