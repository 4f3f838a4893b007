"""Contract: run history (DOMAIN.md section 3) - execution traces with gapless steps."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import enum
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from orcheo_storage.errors import DuplicateError, ExecutionNotFoundError, ValidationError
from orcheo_storage.models.history import HistoryStatus
from orcheo_storage.rules.jsonsafe import RECURSION_MARKER
from orcheo_storage.storage import Storage

from orcheo_storage_contract_tests._support import assert_utc, execution_id, raises
from orcheo_storage_contract_tests.strategies import (
    too_deep_json,
)

# --- start ----------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_start_returns_running_record(storage: Storage) -> None:
    eid = execution_id()
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
    eid = execution_id()
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
    eid = execution_id()
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
    eid = execution_id()
    record = await storage.history.start_run(execution_id=eid, workflow_id="wf", inputs=[1, 2])
    assert record.inputs == {"value": [1, 2]}
    step = await storage.history.append_step(eid, "plain text")
    assert step.payload == {"value": "plain text"}


@pytest.mark.asyncio
async def test_trace_timestamps_keep_microseconds_and_become_utc(storage: Storage) -> None:
    eid = execution_id()
    naive = datetime(2023, 1, 2, 3, 4, 5, 654321)
    record = await storage.history.start_run(
        execution_id=eid, workflow_id="wf", trace_started_at=naive
    )
    assert record.trace_started_at == naive.replace(tzinfo=UTC)
    offset = datetime(2023, 1, 2, 5, 4, 5, 1, tzinfo=timezone(timedelta(hours=2)))
    other = execution_id()
    await storage.history.start_run(execution_id=other, workflow_id="wf", trace_started_at=offset)
    stored = (await storage.history.get_history(other)).trace_started_at
    assert stored == offset
    assert stored is not None
    assert stored.microsecond == 1
    assert_utc(stored)


@pytest.mark.asyncio
async def test_hostile_start_writes_nothing(storage: Storage) -> None:
    eid = execution_id()
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
    eid = execution_id()
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
    eid = execution_id()
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
    eid = execution_id()
    await storage.history.start_run(execution_id=eid, workflow_id="wf")
    steps = await asyncio.gather(*(storage.history.append_step(eid, {"n": n}) for n in range(40)))
    assert sorted(s.index for s in steps) == list(range(40))
    record = await storage.history.get_history(eid)
    assert [s.index for s in record.steps] == list(range(40))
    assert sorted(s.payload["n"] for s in record.steps) == list(range(40))


@pytest.mark.asyncio
async def test_list_steps_pages_large_traces(storage: Storage) -> None:
    eid = execution_id()
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
async def test_list_steps_refuses_a_position_below_minus_one(storage: Storage) -> None:
    """-1 is "from the start"; below it there is no position (not "every step", not the last)."""
    eid = execution_id()
    await storage.history.start_run(execution_id=eid, workflow_id="wf")
    for n in range(3):
        await storage.history.append_step(eid, {"n": n})
    assert [s.index for s in await storage.history.list_steps(eid, after_index=-1)] == [0, 1, 2]
    for bad in (-2, -3, -1000):
        with raises(ValidationError, "after_index: after_index must be at least -1") as caught:
            await storage.history.list_steps(eid, after_index=bad)
        assert caught.value.field == "after_index"


@pytest.mark.asyncio
async def test_large_trace_round_trips_and_pages(storage: Storage) -> None:
    eid = execution_id()
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
    eid = execution_id()
    with pytest.raises(ValidationError, match="JSON nesting deeper than"):
        await storage.history.start_run(execution_id=eid, workflow_id="wf", inputs=too_deep_json())
    await storage.history.start_run(execution_id=eid, workflow_id="wf")
    with pytest.raises(ValidationError, match="JSON nesting deeper than"):
        await storage.history.append_step(eid, too_deep_json())
    assert (await storage.history.get_history(eid)).steps == []


# --- finishing ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_mark_completed_failed_cancelled(storage: Storage) -> None:
    ids = [execution_id() for _ in range(3)]
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
        eid = execution_id()
        ids.append(eid)
        await storage.history.start_run(execution_id=eid, workflow_id="wf-list")
        await storage.history.append_step(eid, {"x": 1})
    await storage.history.start_run(execution_id=execution_id(), workflow_id="elsewhere")
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
    await storage.history.start_run(execution_id=execution_id(), workflow_id="wf")
    for values in (["not-a-time", "e"], ["2030-01-02T03:04:05", "e"], [None, None], [[1], 2]):
        decodable = base64.urlsafe_b64encode(json.dumps(values).encode()).decode()
        with pytest.raises(ValidationError, match=r"^cursor: malformed pagination cursor$"):
            await storage.history.list_histories("wf", cursor=decodable)


@pytest.mark.asyncio
async def test_returned_records_are_copies(storage: Storage) -> None:
    eid = execution_id()
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
