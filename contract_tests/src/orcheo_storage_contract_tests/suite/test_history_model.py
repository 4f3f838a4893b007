"""Contract: run history, by Hypothesis: properties and a state machine against a model.

The example-based tests of the same subsystem are in ``test_history.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule
from orcheo_storage.errors import DuplicateError, ExecutionNotFoundError, ValidationError
from orcheo_storage.rules.jsonsafe import to_json_object

from orcheo_storage_contract_tests._runner import (
    MODEL_STEPS,
    ClockedStateMachine,
    ProvisionStorage,
    run,
    run_machine,
)
from orcheo_storage_contract_tests._support import all_pages, assert_utc, execution_id, nested
from orcheo_storage_contract_tests.near_miss import LONG_PREFIX, near_misses
from orcheo_storage_contract_tests.observation import assert_same, scribble
from orcheo_storage_contract_tests.strategies import (
    aware_datetimes,
    fidelity_objects,
    fidelity_values,
    hostile_history_json,
    hostile_text,
    json_objects,
    json_values,
)

# --- properties -----------------------------------------------------------------------------------


@given(inputs=json_objects, payloads=st.lists(json_values, max_size=4), trace=aware_datetimes)
def test_property_round_trip(
    provision_storage: ProvisionStorage,
    inputs: dict[str, Any],
    payloads: list[Any],
    trace: datetime,
) -> None:
    async def body() -> None:
        async with provision_storage() as storage:
            eid = execution_id()
            started = await storage.history.start_run(
                execution_id=eid,
                workflow_id="wf",
                inputs=inputs,
                metadata={"deep": nested(40)},
                trace_started_at=trace,
            )
            assert started.inputs == to_json_object(inputs)
            for payload in payloads:
                await storage.history.append_step(eid, payload)
            got = await storage.history.get_history(eid)
            assert got.inputs == to_json_object(inputs)
            assert got.metadata == {"deep": nested(40)}
            assert got.trace_started_at == trace
            assert_utc(got.trace_started_at)
            assert [s.payload for s in got.steps] == [to_json_object(p) for p in payloads]
            assert [s.index for s in got.steps] == list(range(len(payloads)))

    run(body())


@given(bad=hostile_history_json, bad_text=hostile_text())
def test_property_hostile_input_rejected_and_nothing_written(
    provision_storage: ProvisionStorage, bad: dict[str, Any], bad_text: str
) -> None:
    async def body() -> None:
        async with provision_storage() as storage:
            eid = execution_id()
            with pytest.raises(ValidationError):
                await storage.history.start_run(execution_id=eid, workflow_id="wf", inputs=bad)
            with pytest.raises(ValidationError):
                await storage.history.start_run(
                    execution_id=eid, workflow_id="wf", run_name=bad_text
                )
            with pytest.raises(ExecutionNotFoundError):
                await storage.history.get_history(eid)
            await storage.history.start_run(execution_id=eid, workflow_id="wf")
            with pytest.raises(ValidationError):
                await storage.history.append_step(eid, bad)
            assert (await storage.history.get_history(eid)).steps == []

    run(body())


# --- state machine --------------------------------------------------------------------------------


WORKFLOWS = ("wf-a", "WF-A", f"{LONG_PREFIX}-w1")
"""Workflow ids that differ in case or only after the 16th character: listings are exact."""


class HistoryMachine(ClockedStateMachine):
    """Random start/append/finish sequences against a model of every record and step."""

    def __init__(self, provision: ProvisionStorage) -> None:
        super().__init__(provision)
        self.model: dict[str, dict[str, Any]] = {}

    def _running(self) -> list[str]:
        return [k for k, r in self.model.items() if r["status"] == "running"]

    @precondition(lambda self: len(self.model) < 8)
    @rule(workflow=st.sampled_from(WORKFLOWS), inputs=fidelity_objects)
    def start(self, workflow: str, inputs: dict[str, Any]) -> None:
        eid = f"{LONG_PREFIX}-e{len(self.model)}"
        record = self.call(
            self.storage.history.start_run(
                execution_id=eid,
                workflow_id=workflow,
                inputs=inputs,
                runnable_config={"tags": ["t"], "n": 2.0},
                callbacks=[{"cb": 1}],
            )
        )
        row: dict[str, Any] = {
            "execution_id": eid,
            "workflow_id": workflow,
            "inputs": to_json_object(inputs),
            "runnable_config": {"tags": ["t"], "n": 2.0},
            "tags": [],
            "callbacks": [{"cb": 1}],
            "metadata": {},
            "run_name": None,
            "status": "running",
            "started_at": self.clock.now(),
            "completed_at": None,
            "error": None,
            "trace_id": None,
            "trace_started_at": None,
            "trace_completed_at": None,
            "trace_last_span_at": None,
            "steps": [],
        }
        assert_same(record, row, "start_run's result")
        self.model[eid] = row

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def start_duplicate(self, data: st.DataObject) -> None:
        eid = data.draw(st.sampled_from(list(self.model)))
        with pytest.raises(DuplicateError):
            self.call(self.storage.history.start_run(execution_id=eid, workflow_id="wf-a"))

    @precondition(lambda self: bool(self._running()))
    @rule(data=st.data(), payload=fidelity_values)
    def append(self, data: st.DataObject, payload: Any) -> None:
        eid = data.draw(st.sampled_from(self._running()))
        step = self.call(self.storage.history.append_step(eid, payload))
        row = self.model[eid]
        expected = {
            "index": len(row["steps"]),
            "at": self.clock.now(),
            "payload": to_json_object(payload),
        }
        assert_same(step, expected, "append_step's result")
        row["steps"].append(expected)
        row["trace_last_span_at"] = self.clock.now()

    @precondition(lambda self: bool(self._running()))
    @rule(data=st.data(), bad=hostile_history_json)
    def append_rejected(self, data: st.DataObject, bad: dict[str, Any]) -> None:
        eid = data.draw(st.sampled_from(self._running()))
        with pytest.raises(ValidationError):
            self.call(self.storage.history.append_step(eid, bad))

    @precondition(lambda self: bool(self._running()))
    @rule(data=st.data(), how=st.sampled_from(["completed", "error", "cancelled"]))
    def finish(self, data: st.DataObject, how: str) -> None:
        eid = data.draw(st.sampled_from(self._running()))
        history = self.storage.history
        if how == "completed":
            record = self.call(history.mark_completed(eid))
            error = None
        elif how == "error":
            record = self.call(history.mark_failed(eid, "failed"))
            error = "failed"
        else:
            record = self.call(history.mark_cancelled(eid, reason="stop"))
            error = "stop"
        now = self.clock.now()
        self.model[eid].update(status=how, completed_at=now, trace_completed_at=now, error=error)
        assert_same(record, self.model[eid], f"mark {how}")

    @rule(data=st.data())
    def probe_near_misses(self, data: st.DataObject) -> None:
        eid = data.draw(st.sampled_from([*self.model, f"{LONG_PREFIX}-e0"]))
        for miss in near_misses(eid):
            if miss in self.model:
                continue
            with pytest.raises(ExecutionNotFoundError):
                self.call(self.storage.history.get_history(miss))
            with pytest.raises(ExecutionNotFoundError):
                self.call(self.storage.history.append_step(miss, {}))

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def scribble_on_results(self, data: st.DataObject) -> None:
        eid = data.draw(st.sampled_from(list(self.model)))
        scribble(self.call(self.storage.history.get_history(eid)))
        for step in self.call(self.storage.history.list_steps(eid)):
            scribble(step)
        workflow = self.model[eid]["workflow_id"]
        for record in self.call(self.storage.history.list_histories(workflow)).items:
            scribble(record)

    @invariant()
    def records_match_model(self) -> None:
        for eid, row in self.model.items():
            assert_same(
                self.call(self.storage.history.get_history(eid)), row, f"get_history({eid})"
            )
            bare = self.call(self.storage.history.get_history(eid, include_steps=False))
            assert_same(bare, {**row, "steps": []}, f"get_history({eid}, include_steps=False)")
            steps = row["steps"]
            for after, limit in ((-1, 500), (-1, 1), (0, 2), (max(-1, len(steps) - 2), 5)):
                got = self.call(
                    self.storage.history.list_steps(eid, after_index=after, limit=limit)
                )
                expected = [s for s in steps if s["index"] > after][:limit]
                assert_same(got, expected, f"list_steps({eid}, {after}, {limit})")

    @invariant()
    def listing_newest_first_with_exact_pages(self) -> None:
        for workflow in WORKFLOWS:
            expected = sorted(
                (r for r in self.model.values() if r["workflow_id"] == workflow),
                key=lambda r: (r["started_at"], r["execution_id"]),
                reverse=True,
            )
            for limit in (1, 3, 50):

                def fetch(cursor: str | None, w: str = workflow, n: int = limit) -> Any:
                    return self.storage.history.list_histories(w, limit=n, cursor=cursor)

                pages = self.call(all_pages(fetch))
                assert len(pages) == max(1, -(-len(expected) // limit)), f"pages of {limit}"
                listed = [r for page in pages for r in page]
                assert_same(
                    listed, [{**r, "steps": []} for r in expected], f"{workflow} by {limit}"
                )


def test_history_state_machine(provision_storage: ProvisionStorage) -> None:
    run_machine(HistoryMachine, provision_storage, min_steps=MODEL_STEPS)
