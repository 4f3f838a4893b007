"""Contract: listener subscriptions, leases, cursors and dedupe (DOMAIN.md section 2)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule
from orcheo_storage.clock import ManualClock, use_clock, utcnow
from orcheo_storage.errors import (
    SubscriptionNotFoundError,
    ValidationError,
    VersionNotFoundError,
    WorkflowNotFoundError,
)
from orcheo_storage.jsoncodec import normalise_json
from orcheo_storage.models.listeners import (
    ListenerStatus,
    ListenerSubscription,
    ListenerSubscriptionSpec,
)
from orcheo_storage.models.workflows import WorkflowVersion
from orcheo_storage.rules.workflows import WorkflowChanges
from orcheo_storage.storage import Storage

from orcheo_storage_contract_tests._runner import (
    AsyncStateMachine,
    ProvisionStorage,
    run,
    run_machine,
)
from orcheo_storage_contract_tests._support import assert_utc, make_version, raises
from orcheo_storage_contract_tests.strategies import aware_datetimes, hostile_json, json_objects

pytestmark = pytest.mark.orcheo_subsystem("listeners")

L = ListenerStatus
LONG = 600.0


def spec(node: str = "telegram", **config: Any) -> ListenerSubscriptionSpec:
    return ListenerSubscriptionSpec(
        node_name=node, platform="telegram", bot_identity_key=f"bot-{node}", config=config
    )


async def subscribe(
    storage: Storage, version: WorkflowVersion | None = None, nodes: tuple[str, ...] = ("n1",)
) -> list[ListenerSubscription]:
    if version is None:
        version = await make_version(storage)
    return await storage.listeners.sync_subscriptions(
        version.workflow_id, version.id, [spec(n) for n in nodes]
    )


# --- sync and listing --------------------------------------------------------------------------


async def test_sync_creates_subscriptions(storage: Storage) -> None:
    version = await make_version(storage)
    created = await storage.listeners.sync_subscriptions(
        version.workflow_id, version.id, [spec("a", token_ref="x"), spec("b")]
    )
    assert [s.node_name for s in created] == ["a", "b"]
    first = created[0]
    assert first.workflow_id == version.workflow_id
    assert first.workflow_version_id == version.id
    assert first.status is L.ACTIVE
    assert first.config == {"token_ref": "x"}
    assert first.assigned_runtime is None
    assert first.lease_expires_at is None
    assert_utc(first.created_at)
    assert await storage.listeners.get_subscription(first.id) == first


async def test_sync_of_a_new_version_disables_earlier_ones(storage: Storage) -> None:
    v1 = await make_version(storage)
    workflow = await storage.workflows.get_workflow(v1.workflow_id)
    v2 = await make_version(storage, workflow)
    old = await subscribe(storage, v1, ("a", "b"))
    await storage.listeners.claim_subscription(old[0].id, runtime_id="rt", lease_seconds=LONG)
    new = await subscribe(storage, v2, ("c",))
    listed = await storage.listeners.list_subscriptions(workflow.id)
    expected = sorted([*old, *new], key=lambda s: (s.created_at, str(s.id)))
    assert [s.id for s in listed] == [s.id for s in expected]
    by_id = {s.id: s for s in listed}
    for sub in old:
        disabled = by_id[sub.id]
        assert disabled.status is L.DISABLED
        assert disabled.assigned_runtime is None
        assert disabled.lease_expires_at is None
        assert disabled.audit_log[-1].action == "subscription_disabled"
    assert by_id[new[0].id].status is L.ACTIVE
    active = await storage.listeners.list_active_subscriptions()
    assert [s.id for s in active] == [new[0].id]


async def test_sync_errors(storage: Storage) -> None:
    version = await make_version(storage)
    other = await make_version(storage)
    missing = uuid.uuid4()
    with raises(WorkflowNotFoundError, f"workflow not found: {missing}"):
        await storage.listeners.sync_subscriptions(missing, version.id, [spec()])
    with raises(VersionNotFoundError, f"workflow version not found: {other.id}"):
        await storage.listeners.sync_subscriptions(version.workflow_id, other.id, [spec()])
    assert await storage.listeners.list_subscriptions(version.workflow_id) == []
    with raises(SubscriptionNotFoundError, f"listener subscription not found: {missing}"):
        await storage.listeners.get_subscription(missing)


async def test_archiving_the_workflow_disables_its_subscriptions(storage: Storage) -> None:
    version = await make_version(storage)
    subs = await subscribe(storage, version, ("a", "b"))
    await storage.listeners.update_subscription_status(subs[1].id, L.PAUSED, actor="ops")
    await storage.workflows.update_workflow(
        version.workflow_id, WorkflowChanges(is_archived=True), actor="ops"
    )
    listed = await storage.listeners.list_subscriptions(version.workflow_id)
    assert {s.status for s in listed} == {L.DISABLED}
    assert await storage.listeners.list_active_subscriptions() == []


# --- leases ------------------------------------------------------------------------------------


async def test_claim_renew_and_release(storage: Storage) -> None:
    (sub,) = await subscribe(storage)
    before = utcnow()
    claimed = await storage.listeners.claim_subscription(
        sub.id, runtime_id="rt-1", lease_seconds=60
    )
    assert claimed is not None
    assert claimed.assigned_runtime == "rt-1"
    lease = assert_utc(claimed.lease_expires_at)
    assert before + timedelta(seconds=59) <= lease <= utcnow() + timedelta(seconds=61)
    assert claimed.audit_log[-1].action == "subscription_claimed"
    assert (
        await storage.listeners.claim_subscription(sub.id, runtime_id="rt-2", lease_seconds=60)
        is None
    )
    renewed = await storage.listeners.claim_subscription(
        sub.id, runtime_id="rt-1", lease_seconds=120
    )
    assert renewed is not None
    assert assert_utc(renewed.lease_expires_at) > lease
    assert len(renewed.audit_log) == len(claimed.audit_log)  # renewal is not audited
    assert await storage.listeners.release_subscription(sub.id, runtime_id="rt-2") is False
    assert await storage.listeners.release_subscription(sub.id, runtime_id="rt-1") is True
    released = await storage.listeners.get_subscription(sub.id)
    assert released.assigned_runtime is None
    assert released.lease_expires_at is None
    assert await storage.listeners.release_subscription(uuid.uuid4(), runtime_id="rt-1") is False
    taken = await storage.listeners.claim_subscription(sub.id, runtime_id="rt-2", lease_seconds=60)
    assert taken is not None
    assert taken.assigned_runtime == "rt-2"


async def test_expired_lease_can_be_taken_over(storage: Storage) -> None:
    (sub,) = await subscribe(storage)
    assert await storage.listeners.claim_subscription(sub.id, runtime_id="a", lease_seconds=0.05)
    await asyncio.sleep(0.15)
    taken = await storage.listeners.claim_subscription(sub.id, runtime_id="b", lease_seconds=60)
    assert taken is not None
    assert taken.assigned_runtime == "b"


async def test_claim_returns_none_when_missing_or_not_active(storage: Storage) -> None:
    (sub,) = await subscribe(storage)
    missing = await storage.listeners.claim_subscription(
        uuid.uuid4(), runtime_id="a", lease_seconds=60
    )
    assert missing is None
    for status in (L.BLOCKED, L.PAUSED, L.ERROR, L.DISABLED):
        await storage.listeners.update_subscription_status(sub.id, status, actor="ops")
        assert (
            await storage.listeners.claim_subscription(sub.id, runtime_id="a", lease_seconds=60)
            is None
        )
    await storage.listeners.update_subscription_status(sub.id, L.ACTIVE, actor="ops")
    assert await storage.listeners.claim_subscription(sub.id, runtime_id="a", lease_seconds=60)


async def test_claim_rejects_non_positive_lease(storage: Storage) -> None:
    (sub,) = await subscribe(storage)
    with raises(ValidationError, "lease_seconds: lease must be positive"):
        await storage.listeners.claim_subscription(sub.id, runtime_id="a", lease_seconds=0)
    assert (await storage.listeners.get_subscription(sub.id)).assigned_runtime is None


async def test_status_update_clears_the_lease(storage: Storage) -> None:
    (sub,) = await subscribe(storage)
    await storage.listeners.claim_subscription(sub.id, runtime_id="a", lease_seconds=LONG)
    updated = await storage.listeners.update_subscription_status(
        sub.id, "error", actor="ops", last_error="token revoked"
    )
    assert updated.status is L.ERROR
    assert updated.last_error == "token revoked"
    assert updated.assigned_runtime is None
    assert updated.lease_expires_at is None
    assert updated.audit_log[-1].metadata == {"from": "active", "to": "error"}
    assert await storage.listeners.get_subscription(sub.id) == updated
    with pytest.raises(ValidationError):
        await storage.listeners.update_subscription_status(sub.id, "exploded", actor="ops")
    missing = uuid.uuid4()
    with raises(SubscriptionNotFoundError, f"listener subscription not found: {missing}"):
        await storage.listeners.update_subscription_status(missing, L.ACTIVE, actor="ops")


async def test_racing_claims_have_exactly_one_winner(storage: Storage) -> None:
    (sub,) = await subscribe(storage)
    results = await asyncio.gather(
        *(
            storage.listeners.claim_subscription(sub.id, runtime_id=f"rt-{i}", lease_seconds=LONG)
            for i in range(12)
        )
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    stored = await storage.listeners.get_subscription(sub.id)
    assert stored.assigned_runtime == winners[0].assigned_runtime


async def test_record_event(storage: Storage) -> None:
    (sub,) = await subscribe(storage)
    at = datetime(2024, 2, 3, 4, 5, 6, 789012)
    await storage.listeners.record_event(sub.id, at=at)
    stored = await storage.listeners.get_subscription(sub.id)
    assert stored.last_event_at == at.replace(tzinfo=UTC)
    assert_utc(stored.last_event_at)


# --- cursors -----------------------------------------------------------------------------------


async def test_cursor_upsert(storage: Storage) -> None:
    (sub,) = await subscribe(storage)
    assert await storage.listeners.get_cursor(sub.id) is None
    first = await storage.listeners.save_cursor(sub.id, fields={"offset": 10})
    assert first.fields == {"offset": 10}
    assert first.metadata == {}
    second = await storage.listeners.save_cursor(
        sub.id, fields={"offset": 2**70}, metadata={"source": "poll"}
    )
    assert await storage.listeners.get_cursor(sub.id) == second
    assert second.fields == {"offset": 2**70}
    assert assert_utc(second.updated_at) >= first.updated_at
    missing = uuid.uuid4()
    with raises(SubscriptionNotFoundError, f"listener subscription not found: {missing}"):
        await storage.listeners.save_cursor(missing, fields={})


# --- dedupe ------------------------------------------------------------------------------------


async def test_dedupe_window(storage: Storage) -> None:
    (sub,) = await subscribe(storage)
    listeners = storage.listeners
    assert await listeners.record_dedupe(sub.id, "evt-1", window_seconds=60) is True
    assert await listeners.record_dedupe(sub.id, "evt-1", window_seconds=60) is False
    assert await listeners.record_dedupe(sub.id, "evt-2", window_seconds=60) is True
    assert await listeners.record_dedupe(sub.id, "short", window_seconds=0.05) is True
    await asyncio.sleep(0.15)
    assert await listeners.record_dedupe(sub.id, "short", window_seconds=0.05) is True
    await asyncio.sleep(0.15)
    assert await listeners.prune_dedupe() == 1
    assert await listeners.prune_dedupe(now=utcnow() + timedelta(seconds=120)) == 2
    assert await listeners.record_dedupe(sub.id, "evt-1", window_seconds=60) is True
    with raises(ValidationError, "window_seconds: dedupe window must be positive"):
        await listeners.record_dedupe(sub.id, "evt-3", window_seconds=0)


async def test_dedupe_window_ends_exactly_at_its_tick(storage: Storage) -> None:
    """A key recorded at ``t`` with window ``w`` is a duplicate until just before ``t + w``
    and free again at ``t + w`` exactly (the window is ``[t, t + w)``), through
    ``record_dedupe`` and ``dispatch_event`` alike; ``prune_dedupe(now=t + w)`` removes it,
    one microsecond earlier it does not."""
    version = await make_version(storage)
    (sub,) = await subscribe(storage, version)
    listeners = storage.listeners
    clock = ManualClock(datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC))
    start = clock.now()
    end = start + timedelta(seconds=10)
    tick = timedelta(microseconds=1)

    async def dispatch(key: str) -> bool:
        run_ = await listeners.dispatch_event(
            sub.id, key, window_seconds=10, workflow_version_id=version.id, triggered_by="l"
        )
        return run_ is not None

    with use_clock(clock):
        assert await listeners.record_dedupe(sub.id, "rec", window_seconds=10) is True
        assert await dispatch("disp") is True
        clock.set(end - tick)
        assert await listeners.record_dedupe(sub.id, "rec", window_seconds=10) is False
        assert await dispatch("disp") is False
        assert await listeners.prune_dedupe(now=end - tick) == 0
        clock.set(end)
        assert await listeners.record_dedupe(sub.id, "rec", window_seconds=10) is True
        assert await dispatch("disp") is True
        # both keys were taken again at ``end``: held until ``end + 10 s``
        assert await listeners.prune_dedupe(now=end + timedelta(seconds=10) - tick) == 0
        assert await listeners.prune_dedupe(now=end + timedelta(seconds=10)) == 2
        assert await listeners.prune_dedupe(now=end + timedelta(seconds=10)) == 0


async def test_racing_dedupe_records_once(storage: Storage) -> None:
    (sub,) = await subscribe(storage)
    results = await asyncio.gather(
        *(storage.listeners.record_dedupe(sub.id, "same", window_seconds=60) for _ in range(10))
    )
    assert results.count(True) == 1


async def test_dispatch_event_creates_one_run_per_key(storage: Storage) -> None:
    version = await make_version(storage)
    (sub,) = await subscribe(storage, version)
    created = await storage.listeners.dispatch_event(
        sub.id,
        "msg-1",
        window_seconds=60,
        workflow_version_id=version.id,
        triggered_by="listener",
        input_payload={"text": "hi"},
    )
    assert created is not None
    assert created.input_payload == {"text": "hi"}
    assert await storage.workflows.get_run(created.id) == created
    again = await storage.listeners.dispatch_event(
        sub.id, "msg-1", window_seconds=60, workflow_version_id=version.id, triggered_by="l"
    )
    assert again is None
    runs = await storage.workflows.list_runs(version.workflow_id)
    assert [r.id for r in runs.items] == [created.id]


async def test_failed_dispatch_leaves_no_dedupe_record(storage: Storage) -> None:
    version = await make_version(storage)
    other = await make_version(storage)
    (sub,) = await subscribe(storage, version)
    with raises(VersionNotFoundError, f"workflow version not found: {other.id}"):
        await storage.listeners.dispatch_event(
            sub.id, "k", window_seconds=60, workflow_version_id=other.id, triggered_by="l"
        )
    with pytest.raises(ValidationError):
        await storage.listeners.dispatch_event(
            sub.id,
            "k",
            window_seconds=60,
            workflow_version_id=version.id,
            triggered_by="l",
            input_payload={"bad": float("nan")},
        )
    assert (await storage.workflows.list_runs(version.workflow_id)).items == []
    assert await storage.listeners.record_dedupe(sub.id, "k", window_seconds=60) is True


async def test_returned_subscriptions_are_copies(storage: Storage) -> None:
    version = await make_version(storage)
    (sub,) = await storage.listeners.sync_subscriptions(
        version.workflow_id, version.id, [spec("a", nested={"k": [1]})]
    )
    sub.config["nested"]["k"].append(2)
    sub.audit_log.clear()
    fetched = await storage.listeners.get_subscription(sub.id)
    assert fetched.config == {"nested": {"k": [1]}}
    assert len(fetched.audit_log) == 1
    listed = (await storage.listeners.list_subscriptions(version.workflow_id))[0]
    listed.config.clear()
    assert (await storage.listeners.get_subscription(sub.id)).config == {"nested": {"k": [1]}}


# --- properties --------------------------------------------------------------------------------


@given(fields=json_objects, metadata=json_objects, at=aware_datetimes)
def test_cursor_and_event_time_round_trip(
    provision_storage: ProvisionStorage,
    fields: dict[str, Any],
    metadata: dict[str, Any],
    at: datetime,
) -> None:
    async def body() -> None:
        async with provision_storage() as storage:
            (sub,) = await subscribe(storage)
            saved = await storage.listeners.save_cursor(sub.id, fields=fields, metadata=metadata)
            fetched = await storage.listeners.get_cursor(sub.id)
            assert fetched == saved
            assert fetched is not None
            assert repr(fetched.fields) == repr(normalise_json(fields))
            await storage.listeners.record_event(sub.id, at=at)
            stored = (await storage.listeners.get_subscription(sub.id)).last_event_at
            assert stored == at
            assert assert_utc(stored).microsecond == at.astimezone(UTC).microsecond

    run(body())


@given(poison=hostile_json(), where=st.sampled_from(["fields", "metadata", "config"]))
def test_hostile_listener_documents_are_rejected(
    provision_storage: ProvisionStorage, poison: dict[str, Any], where: str
) -> None:
    async def body() -> None:
        async with provision_storage() as storage:
            version = await make_version(storage)
            if where == "config":
                raw: Any = {"node_name": "n", "platform": "p", "bot_identity_key": "b"}
                raw["config"] = poison
                with pytest.raises(ValidationError):
                    await storage.listeners.sync_subscriptions(
                        version.workflow_id, version.id, [raw]
                    )
                assert await storage.listeners.list_subscriptions(version.workflow_id) == []
                return
            (sub,) = await subscribe(storage, version)
            kwargs: dict[str, Any] = {"fields": {}, where: poison}
            with pytest.raises(ValidationError):
                await storage.listeners.save_cursor(sub.id, **kwargs)
            assert await storage.listeners.get_cursor(sub.id) is None

    run(body())


# --- state machine -----------------------------------------------------------------------------

RUNTIMES = st.sampled_from(["rt-a", "rt-b", "rt-c"])


class LeaseMachine(AsyncStateMachine):
    """Runtimes claim, renew and release leases; operators change statuses; versions resync.

    Model: subscription id -> (status, holder). Leases are long, so none expires here.
    """

    def __init__(self, provision: ProvisionStorage) -> None:
        super().__init__(provision)
        self.version = self.call(make_version(self.storage))
        self.workflow = self.call(self.storage.workflows.get_workflow(self.version.workflow_id))
        self.model: dict[uuid.UUID, dict[str, Any]] = {}
        self.resync(2)

    @rule(count=st.integers(min_value=1, max_value=3))
    def resync(self, count: int) -> None:
        version = self.call(make_version(self.storage, self.workflow))
        created = self.call(
            self.storage.listeners.sync_subscriptions(
                self.workflow.id, version.id, [spec(f"n{i}") for i in range(count)]
            )
        )
        for row in self.model.values():
            if row["status"] is not L.DISABLED:
                row["status"] = L.DISABLED
                row["holder"] = None
        for sub in created:
            self.model[sub.id] = {"status": L.ACTIVE, "holder": None, "created": sub.created_at}

    def _pick(self, data: st.DataObject) -> uuid.UUID:
        return data.draw(st.sampled_from(list(self.model)))

    @rule(data=st.data(), runtime=RUNTIMES)
    def claim(self, data: st.DataObject, runtime: str) -> None:
        sid = self._pick(data)
        row = self.model[sid]
        got = self.call(
            self.storage.listeners.claim_subscription(sid, runtime_id=runtime, lease_seconds=LONG)
        )
        should = row["status"] is L.ACTIVE and row["holder"] in (None, runtime)
        assert (got is not None) == should
        if got is not None:
            assert got.assigned_runtime == runtime
            row["holder"] = runtime

    @rule(data=st.data(), runtime=RUNTIMES)
    def release(self, data: st.DataObject, runtime: str) -> None:
        sid = self._pick(data)
        row = self.model[sid]
        ok = self.call(self.storage.listeners.release_subscription(sid, runtime_id=runtime))
        assert ok == (row["holder"] == runtime)
        if ok:
            row["holder"] = None

    @rule(data=st.data(), status=st.sampled_from(list(L)))
    def set_status(self, data: st.DataObject, status: ListenerStatus) -> None:
        sid = self._pick(data)
        self.call(self.storage.listeners.update_subscription_status(sid, status, actor="ops"))
        self.model[sid].update(status=status, holder=None)

    @precondition(lambda self: bool(self.model))
    @invariant()
    def subscriptions_match_model(self) -> None:
        listed = self.call(self.storage.listeners.list_subscriptions(self.workflow.id))
        assert {s.id for s in listed} == set(self.model)
        keys = [(s.created_at, str(s.id)) for s in listed]
        assert keys == sorted(keys), "not oldest first"
        for sub in listed:
            row = self.model[sub.id]
            assert sub.status is row["status"]
            assert sub.assigned_runtime == row["holder"]
            assert (sub.lease_expires_at is None) == (row["holder"] is None)

    @invariant()
    def active_listing_matches(self) -> None:
        active = self.call(self.storage.listeners.list_active_subscriptions())
        expected = {sid for sid, row in self.model.items() if row["status"] is L.ACTIVE}
        assert {s.id for s in active} == expected


def test_lease_state_machine(provision_storage: ProvisionStorage) -> None:
    run_machine(LeaseMachine, provision_storage)
