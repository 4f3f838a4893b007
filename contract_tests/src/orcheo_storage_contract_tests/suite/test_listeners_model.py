"""Contract: listener subscriptions, cursors and dedupe windows against the reference model.

Three workflows with two versions each, so a sync or an archive that reaches another
workflow's subscriptions shows; dedupe keys that share a 16-character prefix or differ in
case, recorded on several subscriptions; leases under a frozen clock stepped past them.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule
from orcheo_storage.errors import SubscriptionNotFoundError, VersionNotFoundError
from orcheo_storage.models.listeners import ListenerStatus

from orcheo_storage_contract_tests._runner import (
    MODEL_STEPS,
    ClockedStateMachine,
    ProvisionStorage,
    run_machine,
)
from orcheo_storage_contract_tests.near_miss import LONG_PREFIX
from orcheo_storage_contract_tests.observation import assert_same, scribble
from orcheo_storage_contract_tests.reference.coordination import ListenersModel
from orcheo_storage_contract_tests.strategies import fidelity_objects

pytestmark = pytest.mark.orcheo_subsystem("listeners")

DEDUPE_KEYS = ("evt-1", "EVT-1", f"{LONG_PREFIX}-a", f"{LONG_PREFIX}-b")
RUNTIMES = ("runtime-a", "runtime-b")
LEASE = 61.0
WINDOW = 61.0
"""Equal to one of the clock's ticks, so a lease or a dedupe window ends exactly at a tick:
at its end it is over (``<=``), which a ``<`` comparison gets wrong."""


class ListenersMachine(ClockedStateMachine):
    def __init__(self, provision: ProvisionStorage) -> None:
        super().__init__(provision)
        self.model = ListenersModel()
        self.versions: dict[uuid.UUID, list[uuid.UUID]] = {}
        for n in range(3):
            workflow = self.call(self.storage.workflows.create_workflow(name=f"L{n}", actor="m"))
            self.versions[workflow.id] = [
                self.call(
                    self.storage.workflows.create_version(
                        workflow.id, graph={"v": v}, created_by="m"
                    )
                ).id
                for v in range(2)
            ]
        self.archived: set[uuid.UUID] = set()

    @property
    def store(self) -> Any:
        return self.storage.listeners

    def _sub(self, data: st.DataObject) -> uuid.UUID:
        return data.draw(st.sampled_from(list(self.model.subscriptions)))

    @precondition(lambda self: len(self.model.subscriptions) < 9)
    @rule(data=st.data(), count=st.integers(0, 2), config=fidelity_objects)
    def sync(self, data: st.DataObject, count: int, config: dict[str, Any]) -> None:
        wid = data.draw(st.sampled_from(list(self.versions)))
        owner = data.draw(st.sampled_from(list(self.versions)))  # sometimes another workflow's
        vid = data.draw(st.sampled_from(self.versions[owner]))
        specs = [
            {
                "node_name": f"n{i}",
                "platform": "slack",
                "bot_identity_key": f"bot-{i}",
                "config": config,
            }
            for i in range(count)
        ]
        call = self.store.sync_subscriptions(wid, vid, specs)
        if owner != wid:
            with pytest.raises(VersionNotFoundError):
                self.call(call)
            return
        got = self.call(call)
        expected = self.model.sync([s.id for s in got], wid, vid, specs, self.clock.now())
        assert_same(got, expected, "sync_subscriptions' result")

    @precondition(lambda self: bool(self.model.subscriptions))
    @rule(data=st.data(), runtime=st.sampled_from(RUNTIMES))
    def claim(self, data: st.DataObject, runtime: str) -> None:
        sid = self._sub(data)
        got = self.call(self.store.claim_subscription(sid, runtime_id=runtime, lease_seconds=LEASE))
        expected = self.model.claim(sid, runtime, LEASE, self.clock.now())
        assert_same(got, expected, f"claim by {runtime}")

    @precondition(lambda self: bool(self.model.subscriptions))
    @rule(data=st.data(), runtime=st.sampled_from(RUNTIMES))
    def release(self, data: st.DataObject, runtime: str) -> None:
        sid = self._sub(data)
        got = self.call(self.store.release_subscription(sid, runtime_id=runtime))
        assert got is self.model.release(sid, runtime, self.clock.now())

    @precondition(lambda self: bool(self.model.subscriptions))
    @rule(
        data=st.data(), status=st.sampled_from(list(ListenerStatus)), error=st.none() | st.just("e")
    )
    def set_status(self, data: st.DataObject, status: ListenerStatus, error: str | None) -> None:
        sid = self._sub(data)
        got = self.call(
            self.store.update_subscription_status(sid, status, actor="ops", last_error=error)
        )
        expected = self.model.set_status(sid, status.value, "ops", error, self.clock.now())
        assert_same(got, expected, "update_subscription_status' result")

    @precondition(lambda self: bool(self.model.subscriptions))
    @rule(data=st.data())
    def record_event(self, data: st.DataObject) -> None:
        sid = self._sub(data)
        at = self.clock.now()
        self.call(self.store.record_event(sid, at=at))
        self.model.subscriptions[sid]["last_event_at"] = at

    @precondition(lambda self: bool(self.model.subscriptions))
    @rule(data=st.data(), fields=fidelity_objects, metadata=fidelity_objects)
    def save_cursor(
        self, data: st.DataObject, fields: dict[str, Any], metadata: dict[str, Any]
    ) -> None:
        from orcheo_storage.jsoncodec import normalise_object

        sid = self._sub(data)
        got = self.call(self.store.save_cursor(sid, fields=fields, metadata=metadata))
        row = {
            "subscription_id": sid,
            "fields": normalise_object(fields, "fields"),
            "metadata": normalise_object(metadata, "metadata"),
            "updated_at": self.clock.now(),
        }
        self.model.cursors[sid] = row
        assert_same(got, row, "save_cursor's result")

    @rule(data=st.data(), key=st.sampled_from(DEDUPE_KEYS))
    def record_dedupe(self, data: st.DataObject, key: str) -> None:
        """The same key on two subscriptions (made when missing): each has its own window."""
        if len(self.model.subscriptions) < 2:
            wid = next(iter(self.versions))
            specs = [
                {"node_name": f"d{i}", "platform": "slack", "bot_identity_key": "bot"}
                for i in range(2)
            ]
            got = self.call(self.store.sync_subscriptions(wid, self.versions[wid][0], specs))
            self.model.sync(
                [s.id for s in got], wid, self.versions[wid][0], specs, self.clock.now()
            )
        pair = data.draw(st.permutations(list(self.model.subscriptions)))[:2]
        for sid in pair:
            got = self.call(self.store.record_dedupe(sid, key, window_seconds=WINDOW))
            expected = self.model.record_dedupe(sid, key, WINDOW, self.clock.now())
            assert got is expected, f"dedupe {key!r} on {sid}"

    @precondition(lambda self: bool(self.model.subscriptions))
    @rule(data=st.data(), key=st.sampled_from(DEDUPE_KEYS))
    def dispatch(self, data: st.DataObject, key: str) -> None:
        sid = self._sub(data)
        row = self.model.subscriptions[sid]
        owner = data.draw(st.sampled_from(list(self.versions)))
        vid = data.draw(st.sampled_from(self.versions[owner]))
        call = self.store.dispatch_event(
            sid,
            key,
            window_seconds=WINDOW,
            workflow_version_id=vid,
            triggered_by="listener",
            input_payload={"n": 2.0},
            runnable_config={"configurable": {"k": 1}},
        )
        now = self.clock.now()
        held = self.model.dedupe.get((sid, key))
        if held is not None and held > now:
            assert self.call(call) is None, "a duplicate inside the window dispatched a run"
        elif owner != row["workflow_id"] or row["workflow_id"] in self.archived:
            with pytest.raises(Exception) as info:
                self.call(call)
            note(f"dispatch refused: {info.value!r}")
        else:
            run = self.call(call)
            assert run is not None
            assert run.workflow_id == row["workflow_id"]
            assert run.created_at == now
            assert run.input_payload == {"n": 2.0}
            assert run.runnable_config == {"configurable": {"k": 1}}
            self.model.record_dedupe(sid, key, WINDOW, now)

    @rule()
    def prune(self) -> None:
        got = self.call(self.store.prune_dedupe())
        assert got == self.model.prune(self.clock.now()), "prune_dedupe count"

    @rule(data=st.data())
    def archive(self, data: st.DataObject) -> None:
        wid = data.draw(st.sampled_from(list(self.versions)))
        self.call(self.storage.workflows.archive_workflow(wid, actor="ops"))
        if wid not in self.archived:
            self.model.disable_all(wid, "workflow_archived", self.clock.now())
        self.archived.add(wid)

    @precondition(lambda self: bool(self.model.subscriptions))
    @rule(data=st.data())
    def scribble_on_results(self, data: st.DataObject) -> None:
        sid = self._sub(data)
        scribble(self.call(self.store.get_subscription(sid)))
        for sub in self.call(self.store.list_active_subscriptions()):
            scribble(sub)
        scribble(self.call(self.store.get_cursor(sid)))

    @invariant()
    def listeners_match(self) -> None:
        for wid in self.versions:
            assert_same(
                self.call(self.store.list_subscriptions(wid)),
                self.model.of_workflow(wid),
                "list_subscriptions",
            )
        assert_same(
            self.call(self.store.list_active_subscriptions()),
            self.model.active(),
            "list_active_subscriptions",
        )
        for sid, row in self.model.subscriptions.items():
            assert_same(
                self.call(self.store.get_subscription(sid)), row, f"get_subscription({sid})"
            )
            cursor = self.call(self.store.get_cursor(sid))
            assert_same(cursor, self.model.cursors.get(sid), f"get_cursor({sid})")
        with pytest.raises(SubscriptionNotFoundError):
            self.call(self.store.get_subscription(uuid.uuid4()))
        assert (
            self.call(self.store.claim_subscription(uuid.uuid4(), runtime_id="x", lease_seconds=1))
            is None
        )


def test_listeners_model_state_machine(provision_storage: ProvisionStorage) -> None:
    run_machine(ListenersMachine, provision_storage, min_steps=MODEL_STEPS)
