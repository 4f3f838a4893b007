"""Contract: workflow runs (DOMAIN.md section 1) - config merge, state machine, pagination."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Any

import pytest
from hypothesis import given, note
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule
from orcheo_storage.errors import (
    InvalidTransitionError,
    RunNotFoundError,
    ValidationError,
    VersionNotFoundError,
    WorkflowNotFoundError,
)
from orcheo_storage.jsoncodec import normalise_json
from orcheo_storage.models.workflows import RunStatus, WorkflowRun, WorkflowVersion
from orcheo_storage.storage import Storage

from orcheo_storage_contract_tests._runner import (
    AsyncStateMachine,
    ProvisionStorage,
    run,
    run_machine,
)
from orcheo_storage_contract_tests._support import (
    all_pages,
    assert_utc,
    make_version,
    raises,
)
from orcheo_storage_contract_tests.strategies import hostile_json, json_objects

pytestmark = pytest.mark.orcheo_subsystem("workflows")

S = RunStatus
ALLOWED = {
    S.PENDING: {S.RUNNING, S.FAILED, S.CANCELLED},
    S.RUNNING: {S.SUCCEEDED, S.FAILED, S.CANCELLED},
    S.SUCCEEDED: set(),
    S.FAILED: set(),
    S.CANCELLED: set(),
}
"""The run state machine, written out here independently of the core rules."""


async def make_run(storage: Storage, version: WorkflowVersion, **kwargs: Any) -> WorkflowRun:
    return await storage.workflows.create_run(
        version.workflow_id, workflow_version_id=version.id, triggered_by="tester", **kwargs
    )


async def drive(storage: Storage, run_: WorkflowRun, path: list[RunStatus]) -> WorkflowRun:
    for status in path:
        run_ = await storage.workflows.transition_run(run_.id, status, actor="tester")
    return run_


PATHS: dict[RunStatus, list[RunStatus]] = {
    S.PENDING: [],
    S.RUNNING: [S.RUNNING],
    S.SUCCEEDED: [S.RUNNING, S.SUCCEEDED],
    S.FAILED: [S.FAILED],
    S.CANCELLED: [S.CANCELLED],
}


# --- create ------------------------------------------------------------------------------------


async def test_create_merges_version_config_with_override(storage: Storage) -> None:
    version = await make_version(
        storage,
        runnable_config={
            "configurable": {"a": 1, "b": 2},
            "metadata": {"m": 1},
            "tags": ["x"],
            "recursion_limit": 5,
            "max_concurrency": 2,
        },
    )
    created = await make_run(
        storage,
        version,
        input_payload={"q": "hello"},
        runnable_config={
            "configurable": {"b": 3},
            "metadata": {"n": 2},
            "tags": ["y"],
            "run_name": "nightly",
            "callbacks": [{"kind": "log"}],
            "max_concurrency": 8,
        },
    )
    assert created.status is S.PENDING
    assert created.workflow_id == version.workflow_id
    assert created.workflow_version_id == version.id
    assert created.input_payload == {"q": "hello"}
    assert created.runnable_config == {
        "configurable": {"a": 1, "b": 3},
        "metadata": {"m": 1, "n": 2},
        "tags": ["y"],
        "recursion_limit": 5,
        "max_concurrency": 8,
        "run_name": "nightly",
        "callbacks": [{"kind": "log"}],
    }
    assert created.tags == ["y"]
    assert created.metadata == {"m": 1, "n": 2}
    assert created.run_name == "nightly"
    assert created.callbacks == [{"kind": "log"}]
    assert created.started_at is None
    assert created.completed_at is None
    assert_utc(created.created_at)
    assert [e.action for e in created.audit_log] == ["run_created"]
    assert await storage.workflows.get_run(created.id) == created
    # The version's own config is untouched by the merge.
    stored = await storage.workflows.get_version(version.id)
    assert stored.runnable_config is not None
    assert stored.runnable_config["configurable"] == {"a": 1, "b": 2}


async def test_create_run_errors(storage: Storage) -> None:
    version = await make_version(storage)
    other = await make_version(storage)
    missing = uuid.uuid4()
    repo = storage.workflows
    with raises(WorkflowNotFoundError, f"workflow not found: {missing}"):
        await repo.create_run(missing, workflow_version_id=version.id, triggered_by="t")
    with raises(VersionNotFoundError, f"workflow version not found: {missing}"):
        await repo.create_run(version.workflow_id, workflow_version_id=missing, triggered_by="t")
    with raises(VersionNotFoundError, f"workflow version not found: {other.id}"):
        await repo.create_run(version.workflow_id, workflow_version_id=other.id, triggered_by="t")
    await repo.archive_workflow(version.workflow_id, actor="t")
    with raises(WorkflowNotFoundError, f"workflow not found: {version.workflow_id}"):
        await make_run(storage, version)
    page = await repo.list_runs(version.workflow_id)
    assert page.items == []
    with raises(RunNotFoundError, f"workflow run not found: {missing}"):
        await repo.get_run(missing)
    with raises(RunNotFoundError, f"workflow run not found: {missing}"):
        await repo.transition_run(missing, S.RUNNING, actor="t")


# --- state machine -----------------------------------------------------------------------------


@pytest.mark.parametrize("start", list(S))
@pytest.mark.parametrize("target", list(S))
async def test_transition_table(storage: Storage, start: RunStatus, target: RunStatus) -> None:
    version = await make_version(storage)
    current = await drive(storage, await make_run(storage, version), PATHS[start])
    assert current.status is start
    if target in ALLOWED[start]:
        moved = await storage.workflows.transition_run(current.id, target, actor="bob")
        assert moved.status is target
        assert moved.audit_log[-1].action == f"run_{target.value}"
        assert moved.audit_log[-1].metadata == {"from": start.value, "to": target.value}
        assert await storage.workflows.get_run(current.id) == moved
    else:
        message = f"cannot move workflow run {current.id} from {start.value!r} to {target.value!r}"
        with raises(InvalidTransitionError, message):
            await storage.workflows.transition_run(current.id, target, actor="bob")
        assert await storage.workflows.get_run(current.id) == current


async def test_transition_fields(storage: Storage) -> None:
    version = await make_version(storage)
    running = await drive(storage, await make_run(storage, version), [S.RUNNING])
    assert assert_utc(running.started_at) == running.updated_at
    assert running.completed_at is None
    done = await storage.workflows.transition_run(
        running.id, S.SUCCEEDED, actor="w", output={"answer": 42}
    )
    assert done.output_payload == {"answer": 42}
    assert assert_utc(done.completed_at) >= running.started_at  # type: ignore[operator]
    failed = await storage.workflows.transition_run(
        (await make_run(storage, version)).id, S.FAILED, actor="w", error="boom"
    )
    assert failed.error == "boom"
    assert failed.completed_at is not None
    assert failed.started_at is None
    cancelled = await drive(storage, await make_run(storage, version), [S.RUNNING])
    cancelled = await storage.workflows.transition_run(
        cancelled.id, S.CANCELLED, actor="w", error="user stop"
    )
    assert cancelled.error == "user stop"
    assert await storage.workflows.get_run(cancelled.id) == cancelled


async def test_racing_finishers_have_exactly_one_winner(storage: Storage) -> None:
    version = await make_version(storage)
    running = await drive(storage, await make_run(storage, version), [S.RUNNING])
    targets = [S.SUCCEEDED, S.FAILED, S.CANCELLED] * 4
    results = await asyncio.gather(
        *(
            storage.workflows.transition_run(running.id, t, actor=f"w{i}")
            for i, t in enumerate(targets)
        ),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, WorkflowRun)]
    losers = [r for r in results if isinstance(r, InvalidTransitionError)]
    assert len(winners) == 1
    assert len(losers) == len(targets) - 1
    final = await storage.workflows.get_run(running.id)
    assert final.status is winners[0].status
    assert len(final.audit_log) == 3  # created, running, the one winner


async def test_hostile_output_is_rejected_and_run_unchanged(storage: Storage) -> None:
    version = await make_version(storage)
    running = await drive(storage, await make_run(storage, version), [S.RUNNING])
    with pytest.raises(ValidationError, match="non-finite numbers"):
        await storage.workflows.transition_run(
            running.id, S.SUCCEEDED, actor="w", output={"x": float("-inf")}
        )
    assert await storage.workflows.get_run(running.id) == running


async def test_unknown_status_is_a_validation_error(storage: Storage) -> None:
    version = await make_version(storage)
    created = await make_run(storage, version)
    with pytest.raises(ValidationError):
        await storage.workflows.transition_run(created.id, "exploded", actor="w")  # type: ignore[arg-type]
    assert await storage.workflows.get_run(created.id) == created


# --- listing -----------------------------------------------------------------------------------


async def test_list_runs_newest_first_with_keyset_pages(storage: Storage) -> None:
    version = await make_version(storage)
    other = await make_version(storage)
    runs = [await make_run(storage, version) for _ in range(7)]
    await make_run(storage, other)
    expected = [r.id for r in sorted(runs, key=lambda r: (r.created_at, str(r.id)), reverse=True)]
    first = await storage.workflows.list_runs(version.workflow_id, limit=50)
    assert [r.id for r in first.items] == expected
    assert first.next_cursor is None
    pages = await all_pages(
        lambda cursor: storage.workflows.list_runs(version.workflow_id, limit=3, cursor=cursor)
    )
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [r.id for page in pages for r in page] == expected
    exact = await all_pages(
        lambda cursor: storage.workflows.list_runs(version.workflow_id, limit=7, cursor=cursor)
    )
    assert [r.id for page in exact for r in page] == expected


@pytest.mark.parametrize("limit", [0, -1, 10_001])
async def test_list_runs_rejects_bad_limits(storage: Storage, limit: int) -> None:
    version = await make_version(storage)
    with raises(ValidationError, "limit: limit must be an integer between 1 and 10000"):
        await storage.workflows.list_runs(version.workflow_id, limit=limit)


async def test_list_runs_rejects_malformed_cursor(storage: Storage) -> None:
    version = await make_version(storage)
    with raises(ValidationError, "cursor: malformed pagination cursor"):
        await storage.workflows.list_runs(version.workflow_id, cursor="%%%not-a-cursor")


def _cursor_of(*values: Any) -> str:
    """A cursor in the shape every backend here issues (URL-safe base64 of a JSON array),
    holding values no backend issued."""
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode()


@pytest.mark.parametrize(
    "values",
    [
        ("not-a-time", str(uuid.UUID(int=1))),
        ("2030-01-02T03:04:05+00:00", "not-a-uuid"),
        ("2030-01-02T03:04:05", str(uuid.UUID(int=1))),  # no offset: which instant?
        (None, None),
        ([1], {"a": 2}),
        ("2030-01-02T03:04:05+00:00",),
    ],
    ids=["bad-time", "bad-id", "naive-time", "nulls", "containers", "one-value"],
)
async def test_list_runs_rejects_a_cursor_it_never_issued(
    storage: Storage, values: tuple[Any, ...]
) -> None:
    """A decodable cursor with values that do not parse is a typed error naming the
    cursor, never a raw driver or parsing error."""
    version = await make_version(storage)
    await make_run(storage, version)
    with raises(ValidationError, "cursor: malformed pagination cursor"):
        await storage.workflows.list_runs(version.workflow_id, cursor=_cursor_of(*values))


async def test_returned_runs_are_copies(storage: Storage) -> None:
    version = await make_version(storage)
    created = await make_run(storage, version, input_payload={"items": [1]})
    created.input_payload["items"].append(2)
    created.runnable_config["injected"] = True
    fetched = await storage.workflows.get_run(created.id)
    assert fetched.input_payload == {"items": [1]}
    assert "injected" not in fetched.runnable_config
    listed = (await storage.workflows.list_runs(version.workflow_id)).items[0]
    listed.audit_log.clear()
    assert len((await storage.workflows.get_run(created.id)).audit_log) == 1


# --- properties --------------------------------------------------------------------------------


@given(payload=json_objects, override=json_objects)
def test_payloads_round_trip_exactly(
    provision_storage: ProvisionStorage, payload: dict[str, Any], override: dict[str, Any]
) -> None:
    async def body() -> None:
        async with provision_storage() as storage:
            version = await make_version(storage)
            created = await make_run(
                storage, version, input_payload=payload, runnable_config={"configurable": override}
            )
            fetched = await storage.workflows.get_run(created.id)
            assert fetched == created
            assert fetched.input_payload == normalise_json(payload)
            assert repr(fetched.input_payload) == repr(normalise_json(payload))
            assert fetched.runnable_config["configurable"] == normalise_json(override)

    run(body())


@given(poison=hostile_json(), where=st.sampled_from(["input_payload", "runnable_config"]))
def test_hostile_run_input_is_rejected_and_nothing_written(
    provision_storage: ProvisionStorage, poison: dict[str, Any], where: str
) -> None:
    note(f"{where}={poison!r}")

    async def body() -> None:
        async with provision_storage() as storage:
            version = await make_version(storage)
            with pytest.raises(ValidationError):
                await make_run(storage, version, **{where: poison})
            assert (await storage.workflows.list_runs(version.workflow_id)).items == []

    run(body())


# --- state machine -----------------------------------------------------------------------------


class RunMachine(AsyncStateMachine):
    """Creates runs and moves them at random; model: run id -> status.

    Checks every transition against the table above and that paging with a random
    limit returns every run exactly once, newest first.
    """

    def __init__(self, provision: ProvisionStorage) -> None:
        super().__init__(provision)
        self.version = self.call(make_version(self.storage))
        self.model: dict[uuid.UUID, RunStatus] = {}
        self.keys: dict[uuid.UUID, tuple[Any, str]] = {}

    @rule()
    def create(self) -> None:
        created = self.call(make_run(self.storage, self.version))
        self.model[created.id] = S.PENDING
        self.keys[created.id] = (created.created_at, str(created.id))

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data(), status=st.sampled_from(list(S)))
    def transition(self, data: st.DataObject, status: RunStatus) -> None:
        run_id = data.draw(st.sampled_from(list(self.model)))
        call = self.storage.workflows.transition_run(run_id, status, actor="m")
        if status in ALLOWED[self.model[run_id]]:
            assert self.call(call).status is status
            self.model[run_id] = status
        else:
            with pytest.raises(InvalidTransitionError):
                self.call(call)

    @invariant()
    def statuses_match(self) -> None:
        for run_id, status in self.model.items():
            assert self.call(self.storage.workflows.get_run(run_id)).status is status

    @precondition(lambda self: bool(self.model))
    @rule(limit=st.integers(min_value=1, max_value=5))
    def paging_returns_every_run_once(self, limit: int) -> None:
        workflow_id = self.version.workflow_id
        pages = self.call(
            all_pages(
                lambda cursor: self.storage.workflows.list_runs(
                    workflow_id, limit=limit, cursor=cursor
                )
            )
        )
        seen = [r.id for page in pages for r in page]
        assert all(len(page) <= limit for page in pages)
        expected = sorted(self.model, key=lambda rid: self.keys[rid], reverse=True)
        assert seen == expected


def test_run_state_machine(provision_storage: ProvisionStorage) -> None:
    run_machine(RunMachine, provision_storage)
