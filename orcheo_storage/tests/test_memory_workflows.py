"""Smoke tests of the memory backend's workflow repository, through ``open_storage``."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from orcheo_storage.errors import (
    HandleConflictError,
    InvalidTransitionError,
    PublishStateError,
    RunNotFoundError,
    ValidationError,
    VersionNotFoundError,
    WorkflowNotFoundError,
)
from orcheo_storage.models import ListenerStatus, ListenerSubscriptionSpec, RunStatus
from orcheo_storage.rules.workflows import WorkflowChanges
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


@pytest.fixture
async def storage() -> AsyncIterator[Storage]:
    async with open_storage(memory_settings()) as opened:
        yield opened


async def test_create_get_list_and_copies(storage: Storage) -> None:
    repo = storage.workflows
    wf = await repo.create_workflow(
        name="  My Flow ", actor="alice", handle=" My-Flow ", tags=["A", "b", "a"]
    )
    assert (wf.name, wf.handle, wf.slug, wf.tags) == ("My Flow", "my-flow", "my-flow", ["a", "b"])
    wf.tags.append("mutated")
    fetched = await repo.get_workflow(wf.id)
    assert fetched.tags == ["a", "b"]
    version = await repo.create_version(wf.id, graph={"n": {"deep": [1]}}, created_by="a")
    version.graph["n"]["deep"].append(2)
    version.audit_log.clear()
    again = await repo.get_version(version.id)
    assert again.graph == {"n": {"deep": [1]}}
    assert len(again.audit_log) == 1
    second = await repo.create_workflow(name="Second", actor="alice")
    assert [w.id for w in await repo.list_workflows()] == [wf.id, second.id]


async def test_handle_unique_among_active_only(storage: Storage) -> None:
    repo = storage.workflows
    first = await repo.create_workflow(name="One", actor="a", handle="shared")
    with pytest.raises(HandleConflictError):
        await repo.create_workflow(name="Two", actor="a", handle="shared")
    assert len(await repo.list_workflows(include_archived=True)) == 1  # rejected wrote nothing
    await repo.archive_workflow(first.id, actor="a")
    second = await repo.create_workflow(name="Two", actor="a", handle="shared")
    assert await repo.resolve_workflow_ref(" SHARED ") == second.id
    with pytest.raises(HandleConflictError):
        await repo.update_workflow(first.id, WorkflowChanges(is_archived=False), actor="a")
    assert (await repo.get_workflow(first.id)).is_archived


async def test_resolve_ref_order(storage: Storage) -> None:
    repo = storage.workflows
    old = await repo.create_workflow(name="Old", actor="a", handle="gone")
    await repo.archive_workflow(old.id, actor="a")
    with pytest.raises(WorkflowNotFoundError):
        await repo.resolve_workflow_ref("gone")
    assert await repo.resolve_workflow_ref("gone", include_archived=True) == old.id
    assert await repo.resolve_workflow_ref(str(old.id).upper()) == old.id
    with pytest.raises(WorkflowNotFoundError, match="empty"):
        await repo.resolve_workflow_ref("   ")
    with pytest.raises(WorkflowNotFoundError):
        await repo.resolve_workflow_ref(str(uuid.uuid4()))


async def test_update_audits_changes_and_archive_disables_listeners(storage: Storage) -> None:
    repo = storage.workflows
    wf = await repo.create_workflow(name="Flow", actor="a")
    v1 = await repo.create_version(wf.id, graph={"n": 1}, created_by="a")
    subs = await storage.listeners.sync_subscriptions(
        wf.id,
        v1.id,
        [ListenerSubscriptionSpec(node_name="n", platform="slack", bot_identity_key="b")],
    )
    await repo.publish_workflow(wf.id, actor="a")
    updated = await repo.update_workflow(wf.id, WorkflowChanges(name="Renamed"), actor="b")
    assert updated.audit_log[-1].metadata == {"name": {"from": "Flow", "to": "Renamed"}}
    assert updated.slug == "flow"
    noop = await repo.update_workflow(wf.id, WorkflowChanges(), actor="b")
    assert noop.audit_log[-1].metadata == {}
    archived = await repo.archive_workflow(wf.id, actor="b")
    assert archived.is_archived
    assert not archived.publication.is_public
    sub = await storage.listeners.get_subscription(subs[0].id)
    assert sub.status is ListenerStatus.DISABLED
    with pytest.raises(WorkflowNotFoundError):
        await repo.publish_workflow(wf.id, actor="a")


async def test_publish_state_errors(storage: Storage) -> None:
    repo = storage.workflows
    wf = await repo.create_workflow(name="Flow", actor="a")
    with pytest.raises(PublishStateError):
        await repo.revoke_publication(wf.id, actor="a")
    published = await repo.publish_workflow(wf.id, actor="a", require_login=True)
    assert published.publication.is_public
    assert published.publication.require_login
    with pytest.raises(PublishStateError):
        await repo.publish_workflow(wf.id, actor="a")
    assert not (await repo.revoke_publication(wf.id, actor="a")).publication.is_public
    with pytest.raises(WorkflowNotFoundError):
        await repo.publish_workflow(uuid.uuid4(), actor="a")


async def test_versions_numbering_diff_and_config(storage: Storage) -> None:
    repo = storage.workflows
    wf = await repo.create_workflow(name="Flow", actor="a")
    with pytest.raises(VersionNotFoundError, match="latest"):
        await repo.get_latest_version(wf.id)
    big = Decimal("1.100000000000000000000001")
    v1 = await repo.create_version(wf.id, graph={"x": big, "n": 10**40}, created_by="a")
    v2 = await repo.create_version(
        wf.id, graph={"x": 2}, created_by="a", runnable_config={"tags": ["t"]}
    )
    assert (v1.version, v2.version) == (1, 2)
    assert (await repo.get_version(v1.id)).graph == {"x": big, "n": 10**40}
    assert (await repo.get_latest_version(wf.id)).id == v2.id
    assert (await repo.get_version_by_number(wf.id, 1)).id == v1.id
    assert [v.version for v in await repo.list_versions(wf.id)] == [1, 2]
    diff = await repo.diff_versions(wf.id, 1, 2)
    assert any(line.startswith("+") and '"x": 2' in line for line in diff.diff)
    cleared = await repo.set_version_runnable_config(v2.id, None, actor="a")
    assert cleared.runnable_config is None
    assert cleared.audit_log[-1].action == "runnable_config_cleared"
    with pytest.raises(ValidationError):
        await repo.create_version(wf.id, graph={"bad": "nul\x00"}, created_by="a")
    with pytest.raises(ValidationError):
        await repo.create_version(wf.id, graph={"bad": float("nan")}, created_by="a")
    assert len(await repo.list_versions(wf.id)) == 2  # rejected calls allocated nothing
    with pytest.raises(WorkflowNotFoundError):
        await repo.list_versions(uuid.uuid4())


async def test_runs_merge_transitions_and_pages(storage: Storage) -> None:
    repo = storage.workflows
    wf = await repo.create_workflow(name="Flow", actor="a")
    other = await repo.create_workflow(name="Other", actor="a")
    v = await repo.create_version(
        wf.id,
        graph={},
        created_by="a",
        runnable_config={"configurable": {"a": 1, "b": 1}, "tags": ["x"]},
    )
    run = await repo.create_run(
        wf.id,
        workflow_version_id=v.id,
        triggered_by="a",
        runnable_config={"configurable": {"b": 2}, "tags": ["y"]},
    )
    assert run.runnable_config == {"configurable": {"a": 1, "b": 2}, "tags": ["y"]}
    assert run.tags == ["y"]
    assert run.status is RunStatus.PENDING
    with pytest.raises(VersionNotFoundError):
        await repo.create_run(other.id, workflow_version_id=v.id, triggered_by="a")
    with pytest.raises(InvalidTransitionError):
        await repo.transition_run(run.id, RunStatus.SUCCEEDED, actor="a")
    await repo.transition_run(run.id, RunStatus.RUNNING, actor="a")
    done = await repo.transition_run(run.id, RunStatus.SUCCEEDED, actor="a", output={"ok": True})
    assert done.output_payload == {"ok": True}
    assert done.completed_at is not None
    with pytest.raises(InvalidTransitionError):
        await repo.transition_run(run.id, RunStatus.CANCELLED, actor="a")
    with pytest.raises(RunNotFoundError):
        await repo.get_run(uuid.uuid4())
    created = [run.id]
    for _ in range(4):
        created.append(
            (await repo.create_run(wf.id, workflow_version_id=v.id, triggered_by="a")).id
        )
    seen = []
    cursor = None
    while True:
        page = await repo.list_runs(wf.id, limit=2, cursor=cursor)
        seen += [r.id for r in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == list(reversed(created))
    await repo.archive_workflow(wf.id, actor="a")
    with pytest.raises(WorkflowNotFoundError):
        await repo.create_run(wf.id, workflow_version_id=v.id, triggered_by="a")


async def test_racing_transitions_have_one_winner(storage: Storage) -> None:
    import asyncio

    repo = storage.workflows
    wf = await repo.create_workflow(name="Flow", actor="a")
    v = await repo.create_version(wf.id, graph={}, created_by="a")
    run = await repo.create_run(wf.id, workflow_version_id=v.id, triggered_by="a")
    results = await asyncio.gather(
        *(repo.transition_run(run.id, RunStatus.FAILED, actor=str(i)) for i in range(5)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert sum(isinstance(r, InvalidTransitionError) for r in results) == 4
