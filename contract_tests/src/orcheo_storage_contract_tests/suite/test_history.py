"""Contract: run history (DOMAIN.md section 3) - execution traces with gapless steps."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, note
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule
from orcheo_storage.errors import DuplicateError, ExecutionNotFoundError, ValidationError
from orcheo_storage.models.history import HistoryStatus
from orcheo_storage.rules.jsonsafe import RECURSION_MARKER, to_json_object
from orcheo_storage.storage import Storage

from orcheo_storage_contract_tests._runner import (
    AsyncStateMachine,
    ProvisionStorage,
    run,
    run_machine,
)
from orcheo_storage_contract_tests._support2 import assert_utc, nested
from orcheo_storage_contract_tests.strategies import (
    aware_datetimes,
    hostile_text,
    json_objects,
    json_values,
    too_deep_json,
)

# Decimals are turned into strings by the JSON-safe rule (so Decimal('NaN') is just text
# in a trace); hostile history input is hostile text, hostile keys and non-finite floats.
hostile_history_json = st.one_of(
    hostile_text().map(lambda s: {"k": s}),
    hostile_text().map(lambda s: {"nested": [{s: 1}]}),
    st.sampled_from([float("nan"), float("inf"), float("-inf")]).map(lambda f: {"n": [f]}),
)


def _eid() -> str:
    return f"exec-{uuid.uuid4().hex}"


# --- start ----------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_start_returns_running_record(storage: Storage) -> None:
    eid = _eid()
    record = await storage.history.start_run(
        execution_id=eid,
        workflow_id="wf-1",
        inputs={"q": "hello"},
        tags=["a", "b"],
        run_name="first",
        trace_id="trace-1",
    )
    assert record.execution_id == eid
    assert record.workflow_id == "wf-1"
    assert record.status is HistoryStatus.RUNNING
    assert record.inputs == {"q": "hello"}
    assert record.tags == ["a", "b"]
    assert record.run_name == "first"
    assert record.trace_id == "trace-1"
    assert record.completed_at is None
    assert record.steps == []
    assert_utc(record.started_at)
    assert await storage.history.get_history(eid) == record


@pytest.mark.asyncio
async def test_duplicate_execution_id_is_a_conflict(storage: Storage) -> None:
    eid = _eid()
    await storage.history.start_run(execution_id=eid, workflow_id="wf", inputs={"n": 1})
    with pytest.raises(DuplicateError, match="already exists") as info:
        await storage.history.start_run(execution_id=eid, workflow_id="other", inputs={"n": 2})
    assert eid in str(info.value)
    kept = await storage.history.get_history(eid)
    assert (kept.workflow_id, kept.inputs) == ("wf", {"n": 1})


@pytest.mark.asyncio
async def test_inputs_are_made_json_safe(storage: Storage) -> None:
    class Colour(enum.Enum):
        RED = "red"

    @dataclasses.dataclass
    class Point:
        x: int
        y: int

    loop: dict[str, Any] = {"name": "loop"}
    loop["self"] = loop
    ident = uuid.UUID(int=7)
    when = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    inputs = {
        "when": when,
        "id": ident,
        "amount": Decimal("12.50"),
        "colour": Colour.RED,
        "tags": {"b", "a"},
        "point": Point(1, 2),
        "loop": loop,
        "big": 2**80,
    }
    eid = _eid()
    record = await storage.history.start_run(execution_id=eid, workflow_id="wf", inputs=inputs)
    expected = {
        "when": when.isoformat(),
        "id": str(ident),
        "amount": "12.50",
        "colour": "red",
        "tags": ["a", "b"],
        "point": {"x": 1, "y": 2},
        "loop": {"name": "loop", "self": RECURSION_MARKER},
        "big": 2**80,
    }
    assert record.inputs == expected
    assert (await storage.history.get_history(eid)).inputs == expected


@pytest.mark.asyncio
async def test_non_mapping_inputs_are_wrapped(storage: Storage) -> None:
    eid = _eid()
    record = await storage.history.start_run(execution_id=eid, workflow_id="wf", inputs=[1, 2])
    assert record.inputs == {"value": [1, 2]}
    step = await storage.history.append_step(eid, "plain text")
    assert step.payload == {"value": "plain text"}


@pytest.mark.asyncio
async def test_trace_timestamps_keep_microseconds_and_become_utc(storage: Storage) -> None:
    eid = _eid()
    naive = datetime(2023, 1, 2, 3, 4, 5, 654321)
    record = await storage.history.start_run(
        execution_id=eid, workflow_id="wf", trace_started_at=naive
    )
    assert record.trace_started_at == naive.replace(tzinfo=UTC)
    offset = datetime(2023, 1, 2, 5, 4, 5, 1, tzinfo=timezone(timedelta(hours=2)))
    other = _eid()
    await storage.history.start_run(execution_id=other, workflow_id="wf", trace_started_at=offset)
    stored = (await storage.history.get_history(other)).trace_started_at
    assert stored == offset
    assert stored is not None
    assert stored.microsecond == 1
    assert_utc(stored)


@pytest.mark.asyncio
async def test_hostile_start_writes_nothing(storage: Storage) -> None:
    eid = _eid()
    with pytest.raises(ValidationError, match="NUL characters are not allowed"):
        await storage.history.start_run(execution_id=eid, workflow_id="wf", inputs={"a": "x\x00"})
    with pytest.raises(ValidationError, match="non-finite"):
        await storage.history.start_run(
            execution_id=eid, workflow_id="wf", metadata={"score": float("nan")}
        )
    with pytest.raises(ValidationError, match="NUL"):
        await storage.history.start_run(execution_id="bad\x00id", workflow_id="wf")
    with pytest.raises(ExecutionNotFoundError):
        await storage.history.get_history(eid)
    assert (await storage.history.list_histories("wf")).items == []


# --- steps ----------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_steps_are_gapless_and_set_last_span(storage: Storage) -> None:
    eid = _eid()
    start = await storage.history.start_run(execution_id=eid, workflow_id="wf")
    assert start.trace_last_span_at is None
    steps = [await storage.history.append_step(eid, {"n": n}) for n in range(5)]
    assert [s.index for s in steps] == [0, 1, 2, 3, 4]
    for step in steps:
        assert_utc(step.at)
    record = await storage.history.get_history(eid)
    assert [s.index for s in record.steps] == [0, 1, 2, 3, 4]
    assert [s.payload for s in record.steps] == [{"n": n} for n in range(5)]
    assert record.steps == steps
    assert record.trace_last_span_at is not None
    assert_utc(record.trace_last_span_at)
    assert record.trace_last_span_at >= record.started_at


@pytest.mark.asyncio
async def test_step_index_not_reused_or_skipped_after_rejected_append(storage: Storage) -> None:
    eid = _eid()
    await storage.history.start_run(execution_id=eid, workflow_id="wf")
    await storage.history.append_step(eid, {"n": 0})
    with pytest.raises(ValidationError):
        await storage.history.append_step(eid, {"bad": float("inf")})
    with pytest.raises(ValidationError):
        await storage.history.append_step(eid, {"bad\x00key": 1})
    step = await storage.history.append_step(eid, {"n": 1})
    assert step.index == 1
    third = await storage.history.append_step(eid, {"n": 2})
    assert third.index == 2
    record = await storage.history.get_history(eid)
    assert [(s.index, s.payload) for s in record.steps] == [
        (0, {"n": 0}),
        (1, {"n": 1}),
        (2, {"n": 2}),
    ]


@pytest.mark.asyncio
async def test_append_to_unknown_execution_is_not_found(storage: Storage) -> None:
    with pytest.raises(ExecutionNotFoundError, match="run history not found: missing-exec") as info:
        await storage.history.append_step("missing-exec", {"n": 1})
    assert info.value.key == "missing-exec"


@pytest.mark.asyncio
async def test_hostile_payload_is_rejected_before_the_lookup(storage: Storage) -> None:
    # DOMAIN.md section 0: input is validated in core before any backend sees it, so every
    # backend gives the same validation error even for an unknown execution.
    with pytest.raises(ValidationError, match="non-finite numbers"):
        await storage.history.append_step("missing-exec", {"bad": float("nan")})


@pytest.mark.asyncio
async def test_concurrent_appends_get_unique_gapless_indexes(storage: Storage) -> None:
    eid = _eid()
    await storage.history.start_run(execution_id=eid, workflow_id="wf")
    steps = await asyncio.gather(*(storage.history.append_step(eid, {"n": n}) for n in range(40)))
    assert sorted(s.index for s in steps) == list(range(40))
    record = await storage.history.get_history(eid)
    assert [s.index for s in record.steps] == list(range(40))
    assert sorted(s.payload["n"] for s in record.steps) == list(range(40))


@pytest.mark.asyncio
async def test_list_steps_pages_large_traces(storage: Storage) -> None:
    eid = _eid()
    await storage.history.start_run(execution_id=eid, workflow_id="wf")
    for n in range(23):
        await storage.history.append_step(eid, {"n": n})
    seen: list[int] = []
    after = -1
    while True:
        page = await storage.history.list_steps(eid, after_index=after, limit=5)
        if not page:
            break
        assert len(page) <= 5
        seen.extend(s.index for s in page)
        after = page[-1].index
    assert seen == list(range(23))
    assert await storage.history.list_steps(eid, after_index=22) == []
    without = await storage.history.get_history(eid, include_steps=False)
    assert without.steps == []


@pytest.mark.asyncio
async def test_large_trace_round_trips_and_pages(storage: Storage) -> None:
    eid = _eid()
    await storage.history.start_run(execution_id=eid, workflow_id="wf")
    blob = "x" * (1024 * 1024)
    big = await storage.history.append_step(eid, {"blob": blob, "n": 0})
    assert big.index == 0
    for n in range(1, 600):
        await storage.history.append_step(eid, {"n": n})
    first = await storage.history.list_steps(eid, limit=1)
    assert first[0].payload == {"blob": blob, "n": 0}
    indexes: list[int] = []
    after = -1
    while page := await storage.history.list_steps(eid, after_index=after, limit=250):
        indexes.extend(s.index for s in page)
        after = page[-1].index
    assert indexes == list(range(600))


@pytest.mark.asyncio
async def test_oversize_nesting_is_rejected(storage: Storage) -> None:
    eid = _eid()
    with pytest.raises(ValidationError, match="JSON nesting deeper than"):
        await storage.history.start_run(execution_id=eid, workflow_id="wf", inputs=too_deep_json())
    await storage.history.start_run(execution_id=eid, workflow_id="wf")
    with pytest.raises(ValidationError, match="JSON nesting deeper than"):
        await storage.history.append_step(eid, too_deep_json())
    assert (await storage.history.get_history(eid)).steps == []


# --- finishing ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_mark_completed_failed_cancelled(storage: Storage) -> None:
    ids = [_eid() for _ in range(3)]
    for eid in ids:
        await storage.history.start_run(execution_id=eid, workflow_id="wf")
    done = await storage.history.mark_completed(ids[0])
    failed = await storage.history.mark_failed(ids[1], "boom")
    cancelled = await storage.history.mark_cancelled(ids[2], reason="user stop")
    assert done.status is HistoryStatus.COMPLETED
    assert done.error is None
    assert failed.status is HistoryStatus.ERROR
    assert failed.error == "boom"
    assert cancelled.status is HistoryStatus.CANCELLED
    assert cancelled.error == "user stop"
    for record in (done, failed, cancelled):
        assert_utc(record.completed_at)
        assert record.completed_at is not None
        assert record.completed_at >= record.started_at
        assert await storage.history.get_history(record.execution_id) == record


@pytest.mark.asyncio
async def test_finishing_unknown_execution_is_not_found(storage: Storage) -> None:
    with pytest.raises(ExecutionNotFoundError, match="run history not found: nope"):
        await storage.history.mark_completed("nope")
    with pytest.raises(ExecutionNotFoundError, match="run history not found: nope"):
        await storage.history.mark_failed("nope", "x")
    with pytest.raises(ExecutionNotFoundError, match="run history not found: nope"):
        await storage.history.mark_cancelled("nope")
    with pytest.raises(ExecutionNotFoundError, match="run history not found: nope"):
        await storage.history.get_history("nope")


# --- listing --------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_list_histories_newest_first_paginated_exactly_once(storage: Storage) -> None:
    ids = []
    for _ in range(11):
        eid = _eid()
        ids.append(eid)
        await storage.history.start_run(execution_id=eid, workflow_id="wf-list")
        await storage.history.append_step(eid, {"x": 1})
    await storage.history.start_run(execution_id=_eid(), workflow_id="elsewhere")
    collected = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await storage.history.list_histories("wf-list", limit=4, cursor=cursor)
        pages += 1
        assert len(page.items) <= 4
        collected.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
        assert pages < 10, "pagination does not terminate"
    assert sorted(r.execution_id for r in collected) == sorted(ids)
    assert len({r.execution_id for r in collected}) == len(collected)
    keys = [(r.started_at, r.execution_id) for r in collected]
    assert keys == sorted(keys, reverse=True)
    assert all(r.steps == [] for r in collected)


@pytest.mark.asyncio
async def test_list_histories_rejects_bad_limit_and_cursor(storage: Storage) -> None:
    with pytest.raises(ValidationError, match="limit must be an integer"):
        await storage.history.list_histories("wf", limit=0)
    with pytest.raises(ValidationError, match="malformed pagination cursor"):
        await storage.history.list_histories("wf", cursor="%%%not-a-cursor")


@pytest.mark.asyncio
async def test_returned_records_are_copies(storage: Storage) -> None:
    eid = _eid()
    record = await storage.history.start_run(
        execution_id=eid, workflow_id="wf", inputs={"nested": {"a": [1]}}, tags=["t"]
    )
    await storage.history.append_step(eid, {"k": [1, 2]})
    record.inputs["nested"]["a"].append(2)
    record.tags.append("mutated")
    got = await storage.history.get_history(eid)
    got.steps[0].payload["k"].append(3)
    got.steps.append(got.steps[0])
    again = await storage.history.get_history(eid)
    assert again.inputs == {"nested": {"a": [1]}}
    assert again.tags == ["t"]
    assert [s.payload for s in again.steps] == [{"k": [1, 2]}]


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
            eid = _eid()
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
            eid = _eid()
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
