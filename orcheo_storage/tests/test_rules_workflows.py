"""Workflow construction, updates with audit diffs, archive and publication rules."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from orcheo_storage.errors import PublishStateError, ValidationError
from orcheo_storage.models.workflows import DraftAccess, Workflow
from orcheo_storage.rules.workflows import (
    WorkflowChanges,
    apply_changes,
    new_workflow,
    normalise_description,
    normalise_tags,
    publish,
    revoke_publication,
)

NOW = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
LATER = NOW + timedelta(seconds=1)


def make(**kwargs: Any) -> Workflow:
    return new_workflow(name="  My Flow ", actor="alice", now=NOW, **kwargs)


@given(st.lists(st.text(alphabet="ab CD", max_size=4), max_size=8))
def test_tags_are_stripped_lowercased_deduplicated_in_order(tags: list[str]) -> None:
    result = normalise_tags(tags)
    expected: list[str] = []
    for tag in tags:
        value = tag.strip().lower()
        if value and value not in expected:
            expected.append(value)
    assert result == expected


def test_description_rules() -> None:
    assert normalise_description(None) is None
    assert normalise_description("   ") is None
    assert normalise_description(" hi ") == "hi"
    assert normalise_description("x" * 1024) == "x" * 1024
    with pytest.raises(ValidationError) as info:
        normalise_description("x" * 1025)
    assert info.value.field == "description"


def test_new_workflow_defaults() -> None:
    wf = make(handle=" My-Handle ", tags=["B", "b", " a "], description="  ")
    assert wf.name == "My Flow"
    assert wf.handle == "my-handle"
    assert wf.slug == "my-flow"
    assert wf.tags == ["b", "a"]
    assert wf.description is None
    assert wf.draft_access is DraftAccess.PERSONAL
    assert not wf.is_archived
    assert not wf.publication.is_public
    assert wf.created_at == wf.updated_at == NOW
    assert [(e.actor, e.action) for e in wf.audit_log] == [("alice", "workflow_created")]


def test_explicit_slug_wins_and_is_normalised() -> None:
    assert make(slug="Custom Slug!").slug == "custom-slug"


@pytest.mark.parametrize(
    "kwargs",
    [{"name": "   "}, {"name": "x" * 129}, {"name": "nul\x00"}, {"draft_access": "public"}],
)
def test_new_workflow_rejects_bad_fields(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"name": "ok", "actor": "a", "now": NOW, **kwargs}
    with pytest.raises(ValidationError):
        new_workflow(**args)  # type: ignore[arg-type]


def test_update_records_a_change_map_and_keeps_slug() -> None:
    wf = make(handle="old")
    updated = apply_changes(
        wf, WorkflowChanges(name="Renamed", handle="New", tags=["x"]), actor="bob", now=LATER
    )
    assert updated.slug == wf.slug  # slug is stable across renames
    assert updated.handle == "new"
    event = updated.audit_log[-1]
    assert (event.actor, event.action, event.at) == ("bob", "workflow_updated", LATER)
    assert event.metadata == {
        "name": {"from": "My Flow", "to": "Renamed"},
        "handle": {"from": "old", "to": "new"},
        "tags": {"from": [], "to": ["x"]},
    }
    assert updated.updated_at == LATER
    assert wf.name == "My Flow"  # the input is untouched


def test_update_that_changes_nothing_still_records_an_empty_event() -> None:
    wf = make()
    updated = apply_changes(wf, WorkflowChanges(name="My Flow"), actor="bob", now=LATER)
    assert len(updated.audit_log) == 2
    assert updated.audit_log[-1].metadata == {}


def test_archiving_revokes_publication() -> None:
    wf = publish(make(), actor="alice", require_login=True, now=NOW)
    archived = apply_changes(wf, WorkflowChanges(is_archived=True), actor="bob", now=LATER)
    assert archived.is_archived
    assert not archived.publication.is_public
    assert archived.audit_log[-1].metadata["publication"] == {"from": "public", "to": "revoked"}


def test_publish_and_revoke_state_errors() -> None:
    wf = make()
    with pytest.raises(PublishStateError):
        revoke_publication(wf, actor="a", now=NOW)
    public = publish(wf, actor="alice", require_login=True, now=LATER)
    assert public.publication.is_public
    assert public.publication.published_by == "alice"
    assert public.publication.published_at == LATER
    assert public.publication.require_login
    assert public.audit_log[-1].action == "workflow_published"
    with pytest.raises(PublishStateError):
        publish(public, actor="alice", require_login=False, now=LATER)
    private = revoke_publication(public, actor="bob", now=LATER)
    assert not private.publication.is_public
    assert private.audit_log[-1].action == "workflow_publish_revoked"


def test_update_rejects_invalid_handle() -> None:
    with pytest.raises(ValidationError):
        apply_changes(make(), WorkflowChanges(handle=str(uuid.uuid4())), actor="a", now=NOW)
