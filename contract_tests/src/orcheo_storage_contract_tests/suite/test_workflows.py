"""Contract: workflows (DOMAIN.md section 1) - handles, slugs, refs, updates, publication."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import pytest
from hypothesis import given, note
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, invariant, rule
from orcheo_storage.errors import (
    HandleConflictError,
    PublishStateError,
    ValidationError,
    WorkflowNotFoundError,
)
from orcheo_storage.models.workflows import DraftAccess, Workflow
from orcheo_storage.rules.workflows import WorkflowChanges
from orcheo_storage.storage import Storage

from orcheo_storage_contract_tests._runner import (
    AsyncStateMachine,
    ProvisionStorage,
    run,
    run_machine,
)
from orcheo_storage_contract_tests._support import assert_utc, make_workflow, raises
from orcheo_storage_contract_tests.strategies import hostile_text, nonblank_text, safe_text

pytestmark = pytest.mark.orcheo_subsystem("workflows")

HANDLE_SHAPE = "handle: handle must be lowercase kebab-case (letters, digits and single hyphens)"


# --- create ------------------------------------------------------------------------------------


async def test_create_normalises_fields_and_audits(storage: Storage) -> None:
    created = await storage.workflows.create_workflow(
        name="  My Flow! ",
        actor="alice",
        handle=" My-Flow ",
        description="   ",
        tags=[" B ", "b", "a", " "],
    )
    assert created.name == "My Flow!"
    assert created.handle == "my-flow"
    assert created.slug == "my-flow"
    assert created.description is None
    assert created.tags == ["b", "a"]
    assert created.is_archived is False
    assert created.draft_access is DraftAccess.PERSONAL
    assert created.publication.is_public is False
    assert assert_utc(created.created_at) == created.updated_at
    assert [(e.actor, e.action) for e in created.audit_log] == [("alice", "workflow_created")]
    assert await storage.workflows.get_workflow(created.id) == created


async def test_explicit_slug_wins_over_name(storage: Storage) -> None:
    created = await make_workflow(storage, name="Name", slug="Custom  Slug__x")
    assert created.slug == "custom-slug-x"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "   "}, "name: name must not be blank"),
        ({"name": "x" * 129}, "name: name must be at most 128 characters"),
        ({"name": "ok", "handle": "Bad Handle"}, HANDLE_SHAPE),
        ({"name": "ok", "handle": "a--b"}, HANDLE_SHAPE),
        ({"name": "ok", "handle": "   "}, "handle: handle must not be empty"),
        ({"name": "ok", "handle": "x" * 65}, "handle: handle must be at most 64 characters"),
        (
            {"name": "ok", "handle": "123e4567-e89b-12d3-a456-426614174000"},
            "handle: handle must not look like a UUID",
        ),
        (
            {"name": "ok", "description": "d" * 1025},
            "description: description must be at most 1024 characters",
        ),
    ],
)
async def test_create_rejects_invalid_input(
    storage: Storage, kwargs: dict[str, Any], message: str
) -> None:
    with raises(ValidationError, message):
        await storage.workflows.create_workflow(actor="tester", **kwargs)
    assert await storage.workflows.list_workflows(include_archived=True) == []


async def test_handle_of_64_chars_is_accepted(storage: Storage) -> None:
    handle = "a" * 64
    assert (await make_workflow(storage, handle=handle)).handle == handle


# --- handles -----------------------------------------------------------------------------------


async def test_active_handle_conflicts_and_writes_nothing(storage: Storage) -> None:
    first = await make_workflow(storage, handle="shared")
    with raises(HandleConflictError, "workflow handle is already in use: 'shared'") as info:
        await make_workflow(storage, name="Other", handle="  SHARED ")
    assert info.value.handle == "shared"
    assert [w.id for w in await storage.workflows.list_workflows()] == [first.id]


async def test_archived_holder_does_not_block_reuse(storage: Storage) -> None:
    old = await make_workflow(storage, handle="reuse")
    await storage.workflows.archive_workflow(old.id, actor="tester")
    new = await make_workflow(storage, name="New", handle="reuse")
    assert new.handle == "reuse"
    # Unarchiving the old holder would take an active handle: refused.
    with raises(HandleConflictError, "workflow handle is already in use: 'reuse'"):
        await storage.workflows.update_workflow(
            old.id, WorkflowChanges(is_archived=False), actor="tester"
        )
    assert (await storage.workflows.get_workflow(old.id)).is_archived is True


async def test_rename_to_taken_handle_conflicts(storage: Storage) -> None:
    await make_workflow(storage, handle="taken")
    other = await make_workflow(storage, name="Other", handle="mine")
    with raises(HandleConflictError, "workflow handle is already in use: 'taken'"):
        await storage.workflows.update_workflow(
            other.id, WorkflowChanges(handle="Taken"), actor="tester"
        )
    assert (await storage.workflows.get_workflow(other.id)).handle == "mine"


async def test_concurrent_creates_with_one_handle_have_one_winner(storage: Storage) -> None:
    results = await asyncio.gather(
        *(make_workflow(storage, name=f"W{i}", handle="race") for i in range(8)),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, Workflow)]
    losers = [r for r in results if isinstance(r, HandleConflictError)]
    assert len(winners) == 1
    assert len(losers) == 7
    assert len(await storage.workflows.list_workflows()) == 1


# --- read, list, resolve -----------------------------------------------------------------------


async def test_get_missing_workflow(storage: Storage) -> None:
    missing = uuid.uuid4()
    with raises(WorkflowNotFoundError, f"workflow not found: {missing}") as info:
        await storage.workflows.get_workflow(missing)
    assert info.value.key == missing


async def test_list_excludes_archived_and_keeps_creation_order(storage: Storage) -> None:
    created = [await make_workflow(storage, name=f"W{i}") for i in range(4)]
    await storage.workflows.archive_workflow(created[1].id, actor="tester")
    active = await storage.workflows.list_workflows()
    expected = sorted(created, key=lambda w: (w.created_at, str(w.id)))
    assert [w.id for w in active] == [w.id for w in expected if w.id != created[1].id]
    everything = await storage.workflows.list_workflows(include_archived=True)
    assert [w.id for w in everything] == [w.id for w in expected]


async def test_resolve_ref_order(storage: Storage) -> None:
    repo = storage.workflows
    older = await make_workflow(storage, name="Older", handle="flow")
    await repo.archive_workflow(older.id, actor="tester")
    newer = await make_workflow(storage, name="Newer", handle="other")
    await repo.update_workflow(newer.id, WorkflowChanges(handle="flow"), actor="tester")
    await repo.archive_workflow(newer.id, actor="tester")
    # No active holder: only found when archived are included (the latest-updated one).
    with raises(WorkflowNotFoundError, "workflow not found: flow"):
        await repo.resolve_workflow_ref("flow")
    assert await repo.resolve_workflow_ref("  FLOW ", include_archived=True) == newer.id
    active = await make_workflow(storage, name="Active", handle="flow")
    assert await repo.resolve_workflow_ref("Flow") == active.id
    assert await repo.resolve_workflow_ref("flow", include_archived=True) == active.id
    assert await repo.resolve_workflow_ref(str(older.id).upper()) == older.id


async def test_resolve_ref_errors(storage: Storage) -> None:
    with raises(WorkflowNotFoundError, "workflow ref is empty"):
        await storage.workflows.resolve_workflow_ref("   ")
    with raises(WorkflowNotFoundError, "workflow not found: nobody"):
        await storage.workflows.resolve_workflow_ref("nobody")
    missing = uuid.uuid4()
    with raises(WorkflowNotFoundError, f"workflow not found: {missing}"):
        await storage.workflows.resolve_workflow_ref(str(missing))


# --- update and archive ------------------------------------------------------------------------


async def test_update_records_change_map_and_keeps_slug(storage: Storage) -> None:
    created = await make_workflow(storage, name="Before", tags=["x"])
    updated = await storage.workflows.update_workflow(
        created.id,
        WorkflowChanges(name="After", tags=["Y", "y"], draft_access="workspace"),
        actor="bob",
    )
    assert updated.name == "After"
    assert updated.slug == created.slug == "before"
    assert updated.tags == ["y"]
    assert updated.draft_access is DraftAccess.WORKSPACE
    assert updated.created_at == created.created_at
    assert updated.updated_at >= created.updated_at
    event = updated.audit_log[-1]
    assert (event.actor, event.action) == ("bob", "workflow_updated")
    assert event.metadata == {
        "name": {"from": "Before", "to": "After"},
        "tags": {"from": ["x"], "to": ["y"]},
        "draft_access": {"from": "personal", "to": "workspace"},
    }
    assert await storage.workflows.get_workflow(created.id) == updated


async def test_update_that_changes_nothing_still_audits(storage: Storage) -> None:
    created = await make_workflow(storage, name="Same", description="kept")
    updated = await storage.workflows.update_workflow(
        created.id, WorkflowChanges(name="Same"), actor="carol"
    )
    assert updated.description == "kept"
    assert len(updated.audit_log) == 2
    assert updated.audit_log[-1].metadata == {}
    assert updated.audit_log[0] == created.audit_log[0]


async def test_update_missing_workflow(storage: Storage) -> None:
    missing = uuid.uuid4()
    with raises(WorkflowNotFoundError, f"workflow not found: {missing}"):
        await storage.workflows.update_workflow(missing, WorkflowChanges(name="x"), actor="t")


async def test_archive_revokes_publication(storage: Storage) -> None:
    created = await make_workflow(storage)
    await storage.workflows.publish_workflow(created.id, actor="pub")
    archived = await storage.workflows.archive_workflow(created.id, actor="tester")
    assert archived.is_archived is True
    assert archived.publication.is_public is False
    assert archived.audit_log[-1].metadata["publication"] == {"from": "public", "to": "revoked"}
    assert await storage.workflows.get_workflow(created.id) == archived


# --- publication -------------------------------------------------------------------------------


async def test_publish_and_revoke(storage: Storage) -> None:
    created = await make_workflow(storage)
    published = await storage.workflows.publish_workflow(
        created.id, actor="pub", require_login=True
    )
    assert published.publication.is_public is True
    assert published.publication.published_by == "pub"
    assert published.publication.require_login is True
    assert assert_utc(published.publication.published_at) == published.updated_at
    assert published.audit_log[-1].action == "workflow_published"
    with raises(PublishStateError, f"workflow {created.id} is already published"):
        await storage.workflows.publish_workflow(created.id, actor="pub")
    revoked = await storage.workflows.revoke_publication(created.id, actor="pub")
    assert revoked.publication.is_public is False
    assert revoked.publication.published_at is None
    assert revoked.audit_log[-1].action == "workflow_publish_revoked"
    with raises(PublishStateError, f"workflow {created.id} is not published"):
        await storage.workflows.revoke_publication(created.id, actor="pub")
    assert await storage.workflows.get_workflow(created.id) == revoked


async def test_publish_missing_or_archived_is_not_found(storage: Storage) -> None:
    missing = uuid.uuid4()
    with raises(WorkflowNotFoundError, f"workflow not found: {missing}"):
        await storage.workflows.publish_workflow(missing, actor="pub")
    created = await make_workflow(storage)
    await storage.workflows.archive_workflow(created.id, actor="tester")
    with raises(WorkflowNotFoundError, f"workflow not found: {created.id}"):
        await storage.workflows.publish_workflow(created.id, actor="pub")


# --- copies out --------------------------------------------------------------------------------


async def test_returned_workflows_are_copies(storage: Storage) -> None:
    created = await make_workflow(
        storage, tags=["one"], chat={"start_screen_prompts": [{"label": "hi"}]}
    )
    created.tags.append("mutated")
    created.audit_log.clear()
    assert created.chat is not None
    assert created.chat.start_screen_prompts is not None
    created.chat.start_screen_prompts[0]["label"] = "mutated"
    fetched = await storage.workflows.get_workflow(created.id)
    assert fetched.tags == ["one"]
    assert len(fetched.audit_log) == 1
    assert fetched.chat is not None
    assert fetched.chat.start_screen_prompts == [{"label": "hi"}]
    listed = (await storage.workflows.list_workflows())[0]
    listed.tags.append("again")
    assert (await storage.workflows.get_workflow(created.id)).tags == ["one"]


# --- properties --------------------------------------------------------------------------------


@given(
    name=nonblank_text.filter(lambda s: len(s.strip()) <= 128),
    description=safe_text,
    tags=st.lists(safe_text, max_size=5),
)
def test_unicode_fields_round_trip(
    provision_storage: ProvisionStorage, name: str, description: str, tags: list[str]
) -> None:
    async def body() -> None:
        async with provision_storage() as storage:
            created = await storage.workflows.create_workflow(
                name=name, actor="tester", description=description, tags=tags
            )
            assert created.name == name.strip()
            fetched = await storage.workflows.get_workflow(created.id)
            assert fetched == created
            assert fetched.created_at.microsecond == created.created_at.microsecond
            assert_utc(fetched.created_at)

    run(body())


@given(field=st.sampled_from(["name", "description", "tag", "handle", "actor"]), bad=hostile_text())
def test_hostile_text_is_rejected_and_nothing_written(
    provision_storage: ProvisionStorage, field: str, bad: str
) -> None:
    kwargs: dict[str, Any] = {"name": "ok", "actor": "tester"}
    if field == "tag":
        kwargs["tags"] = ["fine", bad]
    else:
        kwargs[field] = bad
    note(f"kwargs={kwargs!r}")

    async def body() -> None:
        async with provision_storage() as storage:
            with pytest.raises(ValidationError) as info:
                await storage.workflows.create_workflow(**kwargs)
            message = str(info.value)
            assert re.search(r"(NUL characters|lone surrogates) are not allowed$", message)
            assert await storage.workflows.list_workflows(include_archived=True) == []

    run(body())


# --- state machine -----------------------------------------------------------------------------

HANDLES = st.sampled_from(["alpha", "beta", "gamma"])


class WorkflowHandleMachine(AsyncStateMachine):
    """Creates, renames, archives and unarchives workflows over a few shared handles.

    Model: workflow id -> (handle, archived), plus creation order.
    """

    workflows = Bundle("workflows")

    def __init__(self, provision: ProvisionStorage) -> None:
        super().__init__(provision)
        self.model: dict[uuid.UUID, dict[str, Any]] = {}
        self.created: list[tuple[Any, str, uuid.UUID]] = []

    @property
    def order(self) -> list[uuid.UUID]:
        """Creation order as the contract defines it: (created_at, id)."""
        return [wid for _, _, wid in sorted(self.created)]

    def _active_holder(self, handle: str, exclude: uuid.UUID | None = None) -> uuid.UUID | None:
        for wid, row in self.model.items():
            if row["handle"] == handle and not row["archived"] and wid != exclude:
                return wid
        return None

    @rule(target=workflows, handle=st.one_of(st.none(), HANDLES))
    def create(self, handle: str | None) -> uuid.UUID | None:
        holder = None if handle is None else self._active_holder(handle)
        if holder is not None:
            with pytest.raises(HandleConflictError):
                self.call(make_workflow(self.storage, handle=handle))
            return None
        created = self.call(make_workflow(self.storage, handle=handle))
        self.model[created.id] = {"handle": handle, "archived": False}
        self.created.append((created.created_at, str(created.id), created.id))
        return created.id

    @rule(wid=workflows, handle=HANDLES)
    def rename(self, wid: uuid.UUID | None, handle: str) -> None:
        if wid is None:
            return
        row = self.model[wid]
        change = WorkflowChanges(handle=handle)
        if not row["archived"] and self._active_holder(handle, exclude=wid) is not None:
            with pytest.raises(HandleConflictError):
                self.call(self.storage.workflows.update_workflow(wid, change, actor="m"))
            return
        self.call(self.storage.workflows.update_workflow(wid, change, actor="m"))
        row["handle"] = handle

    @rule(wid=workflows, archived=st.booleans())
    def set_archived(self, wid: uuid.UUID | None, archived: bool) -> None:
        if wid is None:
            return
        row = self.model[wid]
        change = WorkflowChanges(is_archived=archived)
        blocked = (
            not archived
            and row["archived"]
            and row["handle"] is not None
            and self._active_holder(row["handle"], exclude=wid) is not None
        )
        if blocked:
            with pytest.raises(HandleConflictError):
                self.call(self.storage.workflows.update_workflow(wid, change, actor="m"))
            return
        self.call(self.storage.workflows.update_workflow(wid, change, actor="m"))
        row["archived"] = archived

    @rule(handle=HANDLES)
    def resolve(self, handle: str) -> None:
        holder = self._active_holder(handle)
        if holder is None:
            with pytest.raises(WorkflowNotFoundError):
                self.call(self.storage.workflows.resolve_workflow_ref(handle))
        else:
            assert self.call(self.storage.workflows.resolve_workflow_ref(handle)) == holder

    @invariant()
    def one_active_holder_per_handle(self) -> None:
        listed = self.call(self.storage.workflows.list_workflows())
        handles = [w.handle for w in listed if w.handle is not None]
        assert len(handles) == len(set(handles)), f"two active holders: {handles}"

    @invariant()
    def listing_matches_model(self) -> None:
        listed = self.call(self.storage.workflows.list_workflows(include_archived=True))
        assert [w.id for w in listed] == self.order
        for workflow in listed:
            row = self.model[workflow.id]
            assert workflow.handle == row["handle"]
            assert workflow.is_archived == row["archived"]
        active = self.call(self.storage.workflows.list_workflows())
        assert [w.id for w in active] == [i for i in self.order if not self.model[i]["archived"]]


def test_handle_state_machine(provision_storage: ProvisionStorage) -> None:
    run_machine(WorkflowHandleMachine, provision_storage)
