"""Contract: run history, by Hypothesis: properties and a state machine against a model.

The example-based tests of the same subsystem are in ``test_history.py``.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, note
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule
from orcheo_storage.errors import DuplicateError, ExecutionNotFoundError, ValidationError
from orcheo_storage.models.history import HistoryStatus
from orcheo_storage.rules.jsonsafe import to_json_object

from orcheo_storage_contract_tests._runner import (
    AsyncStateMachine,
    ProvisionStorage,
    run,
    run_machine,
)
from orcheo_storage_contract_tests._support import assert_utc, execution_id, nested
from orcheo_storage_contract_tests.strategies import (
    aware_datetimes,
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


@dataclasses.dataclass
class _Execution:
    workflow_id: str
    status: HistoryStatus = HistoryStatus.RUNNING
    payloads: list[dict[str, Any]] = dataclasses.field(default_factory=list)


class HistoryMachine(AsyncStateMachine):
    """Random start/append/finish sequences against a dict model of executions."""

    def __init__(self, provision: ProvisionStorage) -> None:
        super().__init__(provision)
        self.model: dict[str, _Execution] = {}

    @rule(workflow=st.sampled_from(["wf-a", "wf-b"]), inputs=json_objects)
    def start(self, workflow: str, inputs: dict[str, Any]) -> None:
        eid = f"e{len(self.model)}"
        record = self.call(
            self.storage.history.start_run(execution_id=eid, workflow_id=workflow, inputs=inputs)
        )
        assert record.inputs == to_json_object(inputs)
        self.model[eid] = _Execution(workflow)

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def start_duplicate(self, data: st.DataObject) -> None:
        eid = data.draw(st.sampled_from(list(self.model)))
        with pytest.raises(DuplicateError):
            self.call(self.storage.history.start_run(execution_id=eid, workflow_id="wf-a"))

    @precondition(lambda self: any(e.status is HistoryStatus.RUNNING for e in self.model.values()))
    @rule(data=st.data(), payload=json_values)
    def append(self, data: st.DataObject, payload: Any) -> None:
        running = [k for k, e in self.model.items() if e.status is HistoryStatus.RUNNING]
        eid = data.draw(st.sampled_from(running))
        step = self.call(self.storage.history.append_step(eid, payload))
        expected_index = len(self.model[eid].payloads)
        assert step.index == expected_index
        self.model[eid].payloads.append(to_json_object(payload))

    @precondition(lambda self: any(e.status is HistoryStatus.RUNNING for e in self.model.values()))
    @rule(data=st.data(), bad=hostile_history_json)
    def append_rejected(self, data: st.DataObject, bad: dict[str, Any]) -> None:
        running = [k for k, e in self.model.items() if e.status is HistoryStatus.RUNNING]
        eid = data.draw(st.sampled_from(running))
        with pytest.raises(ValidationError):
            self.call(self.storage.history.append_step(eid, bad))

    @precondition(lambda self: any(e.status is HistoryStatus.RUNNING for e in self.model.values()))
    @rule(data=st.data(), how=st.sampled_from(["completed", "error", "cancelled"]))
    def finish(self, data: st.DataObject, how: str) -> None:
        running = [k for k, e in self.model.items() if e.status is HistoryStatus.RUNNING]
        eid = data.draw(st.sampled_from(running))
        history = self.storage.history
        if how == "completed":
            record = self.call(history.mark_completed(eid))
        elif how == "error":
            record = self.call(history.mark_failed(eid, "failed"))
        else:
            record = self.call(history.mark_cancelled(eid, reason="stop"))
        assert record.status.value == how
        self.model[eid].status = HistoryStatus(how)

    @rule()
    def unknown_execution(self) -> None:
        with pytest.raises(ExecutionNotFoundError):
            self.call(self.storage.history.append_step("never-started", {}))

    @invariant()
    def records_match_model(self) -> None:
        for eid, execution in self.model.items():
            record = self.call(self.storage.history.get_history(eid))
            note(f"{eid}: {record.status} {len(record.steps)} steps")
            assert record.workflow_id == execution.workflow_id
            assert record.status is execution.status
            assert [s.index for s in record.steps] == list(range(len(execution.payloads)))
            assert [s.payload for s in record.steps] == execution.payloads

    @invariant()
    def listing_returns_each_record_once(self) -> None:
        for workflow in ("wf-a", "wf-b"):
            expected = sorted(k for k, e in self.model.items() if e.workflow_id == workflow)
            seen: list[str] = []
            cursor: str | None = None
            for _ in range(len(expected) + 2):
                page = self.call(
                    self.storage.history.list_histories(workflow, limit=2, cursor=cursor)
                )
                seen.extend(r.execution_id for r in page.items)
                cursor = page.next_cursor
                if cursor is None:
                    break
            assert cursor is None
            assert sorted(seen) == expected
            assert len(seen) == len(set(seen))


def test_history_state_machine(provision_storage: ProvisionStorage) -> None:
    run_machine(HistoryMachine, provision_storage)
