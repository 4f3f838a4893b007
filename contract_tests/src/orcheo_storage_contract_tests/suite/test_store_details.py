"""Contract: details of the stores that the state machines do not pin, found by mutation testing.

Each example checks one value a caller gives and reads back, or one rule of DOMAIN.md that a
backend could drop and still pass the machines (``MUTATION.md``, SQLite store modules).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from orcheo_storage.errors import (
    DuplicateError,
    ExecutionNotFoundError,
    SubscriptionNotFoundError,
    ValidationError,
)
from orcheo_storage.storage import Storage

from orcheo_storage_contract_tests._support import execution_id, make_version, raises

# --- agentensor ---------------------------------------------------------------------------------


@pytest.mark.orcheo_subsystem("agentensor")
async def test_a_checkpoint_keeps_its_artifact_url(storage: Storage) -> None:
    store = storage.agentensor
    url = "s3://bucket/run-7/model.bin"
    made = await store.record_checkpoint(workflow_id="wf", artifact_url=url, config_version=4)
    assert (made.artifact_url, made.config_version) == (url, 4)
    assert (await store.get_checkpoint(made.id)).artifact_url == url
    assert [c.artifact_url for c in await store.list_checkpoints("wf")] == [url]
    latest = await store.latest_checkpoint("wf")
    assert latest is not None
    assert latest.artifact_url == url
    plain = await store.record_checkpoint(workflow_id="wf")
    assert plain.artifact_url is None
    assert (await store.get_checkpoint(plain.id)).artifact_url is None


@pytest.mark.orcheo_subsystem("agentensor")
@pytest.mark.parametrize("field", ["metrics_contains", "metadata_contains"])
@pytest.mark.parametrize("fragment", [[1], "score", 3])
async def test_a_containment_filter_must_be_an_object(
    storage: Storage, field: str, fragment: object
) -> None:
    await storage.agentensor.record_checkpoint(workflow_id="wf", metrics={"a": 1})
    with raises(ValidationError, f"{field}: must be a JSON object"):
        await storage.agentensor.list_checkpoints("wf", **{field: fragment})  # type: ignore[arg-type]


# --- history ------------------------------------------------------------------------------------


@pytest.mark.orcheo_subsystem("history")
async def test_list_steps_returns_500_steps_by_default(storage: Storage) -> None:
    eid = execution_id()
    await storage.history.start_run(execution_id=eid, workflow_id="wf")
    for n in range(501):
        await storage.history.append_step(eid, {"n": n})
    steps = await storage.history.list_steps(eid)
    assert [s.index for s in steps] == list(range(500))
    assert [s.index for s in await storage.history.list_steps(eid, after_index=499)] == [500]


@pytest.mark.orcheo_subsystem("history")
async def test_history_errors_name_the_execution(storage: Storage) -> None:
    history = storage.history
    eid = execution_id()
    await history.start_run(execution_id=eid, workflow_id="wf")
    with raises(DuplicateError, f"run history already exists: {eid}"):
        await history.start_run(execution_id=eid, workflow_id="other")
    missing = f"{eid}-missing"
    for call in (
        history.list_steps(missing),
        history.list_steps(missing, after_index=3, limit=1),
        history.append_step(missing, {"n": 1}),
        history.get_history(missing),
        history.get_history(missing, include_steps=False),
        history.mark_completed(missing),
        history.mark_failed(missing, "boom"),
        history.mark_cancelled(missing, reason="stop"),
    ):
        with raises(ExecutionNotFoundError, f"run history not found: {missing}") as info:
            await call
        assert info.value.key == missing


@pytest.mark.orcheo_subsystem("history")
async def test_list_histories_returns_50_by_default(storage: Storage) -> None:
    for _ in range(51):
        await storage.history.start_run(execution_id=execution_id(), workflow_id="wf")
    first = await storage.history.list_histories("wf")
    assert len(first.items) == 50
    assert first.next_cursor is not None
    rest = await storage.history.list_histories("wf", cursor=first.next_cursor)
    assert (len(rest.items), rest.next_cursor) == (1, None)


# --- listeners ----------------------------------------------------------------------------------


@pytest.mark.orcheo_subsystem("listeners")
async def test_listener_errors_name_the_subscription(storage: Storage) -> None:
    listeners = storage.listeners
    version = await make_version(storage)
    missing = uuid.UUID(int=77)
    for call in (
        listeners.get_subscription(missing),
        listeners.record_event(missing, at=datetime(2030, 1, 1, tzinfo=UTC)),
        listeners.update_subscription_status(missing, "paused", actor="a"),
        listeners.save_cursor(missing, fields={"offset": 1}),
        listeners.record_dedupe(missing, "k", window_seconds=5),
        listeners.dispatch_event(
            missing, "k", window_seconds=5, workflow_version_id=version.id, triggered_by="t"
        ),
    ):
        with raises(
            SubscriptionNotFoundError, f"listener subscription not found: {missing}"
        ) as info:
            await call
        assert info.value.key == missing
