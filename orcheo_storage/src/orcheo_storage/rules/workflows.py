"""Creating, updating, archiving and publishing workflows (pure functions)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orcheo_storage.errors import PublishStateError
from orcheo_storage.jsoncodec import JsonValue, check_text
from orcheo_storage.models.common import AuditEvent, build
from orcheo_storage.models.workflows import ChatConfig, DraftAccess, Publication, Workflow
from orcheo_storage.rules.handles import make_slug, normalise_handle
from orcheo_storage.rules.states import parse_state


def normalise_tags(tags: list[str] | None) -> list[str]:
    """Strip, lowercase and de-duplicate tags, keeping first-seen order; drop blanks."""
    seen: dict[str, None] = {}
    for tag in tags or []:
        value = check_text(tag, "tags").strip().lower()
        if value:
            seen.setdefault(value, None)
    return list(seen)


def normalise_description(description: str | None) -> str | None:
    """Blank descriptions become ``None``; longer than 1024 is rejected by the model."""
    if description is None:
        return None
    value = check_text(description, "description").strip()
    if len(value) > 1024:
        from orcheo_storage.errors import ValidationError

        raise ValidationError("description must be at most 1024 characters", field="description")
    return value or None


def audit(
    actor: str, action: str, at: datetime, metadata: dict[str, Any] | None = None
) -> AuditEvent:
    """Build one audit log entry."""
    return build(AuditEvent, actor=actor, action=action, at=at, metadata=metadata or {})


def new_workflow(
    *,
    name: str,
    actor: str,
    now: datetime,
    handle: str | None = None,
    slug: str | None = None,
    description: str | None = None,
    tags: list[str] | None = None,
    draft_access: DraftAccess | str = DraftAccess.PERSONAL,
    chat: ChatConfig | dict[str, Any] | None = None,
    workflow_id: uuid.UUID | None = None,
) -> Workflow:
    """Build a new workflow; the backend must still enforce handle uniqueness.

    Raises:
        ValidationError: any field breaks its rule.
    """
    # checked first so hostile text in the name is reported as "name", not as the slug made from it
    check_text(name, "name")
    return build(
        Workflow,
        id=workflow_id or uuid.uuid4(),
        name=name,
        handle=normalise_handle(handle),
        slug=make_slug(slug if slug is not None else name),
        description=normalise_description(description),
        tags=normalise_tags(tags),
        draft_access=draft_access,
        chat=chat,
        created_at=now,
        updated_at=now,
        audit_log=[audit(actor, "workflow_created", now)],
    )


@dataclass(frozen=True)
class WorkflowChanges:
    """An update request: ``None`` means leave the field unchanged."""

    name: str | None = None
    handle: str | None = None
    description: str | None = None
    tags: list[str] | None = None
    draft_access: DraftAccess | str | None = None
    chat: ChatConfig | dict[str, Any] | None = None
    is_archived: bool | None = None


def _jsonable(value: Any) -> JsonValue:
    if hasattr(value, "model_dump"):
        dumped: JsonValue = value.model_dump(mode="json")
        return dumped
    if isinstance(value, list):
        return list(value)
    return value  # type: ignore[no-any-return]


def apply_changes(
    workflow: Workflow, changes: WorkflowChanges, *, actor: str, now: datetime
) -> Workflow:
    """Return ``workflow`` with ``changes`` applied and an ``workflow_updated`` audit event.

    The event's metadata maps each changed field to ``{"from": old, "to": new}``; an
    update that changes nothing still records an event, with empty metadata.
    Archiving also revokes publication (backends disable listener subscriptions).

    Raises:
        ValidationError: a new value breaks its rule.
    """
    proposed: dict[str, Any] = {}
    if changes.name is not None:
        proposed["name"] = changes.name.strip()
    if changes.handle is not None:
        proposed["handle"] = normalise_handle(changes.handle)
    if changes.description is not None:
        proposed["description"] = normalise_description(changes.description)
    if changes.tags is not None:
        proposed["tags"] = normalise_tags(changes.tags)
    if changes.draft_access is not None:
        proposed["draft_access"] = parse_state(
            DraftAccess, changes.draft_access, entity="draft access", field="draft_access"
        )
    if changes.chat is not None:
        proposed["chat"] = (
            build(ChatConfig, **changes.chat) if isinstance(changes.chat, dict) else changes.chat
        )
    if changes.is_archived is not None:
        proposed["is_archived"] = changes.is_archived
    data = workflow.model_dump()
    diff: dict[str, Any] = {}
    for field, new in proposed.items():
        old = getattr(workflow, field)
        if old != new:
            diff[field] = {"from": _jsonable(old), "to": _jsonable(new)}
            data[field] = new
    if proposed.get("is_archived") and workflow.publication.is_public:
        data["publication"] = Publication()
        diff["publication"] = {"from": "public", "to": "revoked"}
    data["updated_at"] = now
    data["audit_log"] = [*workflow.audit_log, audit(actor, "workflow_updated", now, diff)]
    return build(Workflow, **data)


def publish(workflow: Workflow, *, actor: str, require_login: bool, now: datetime) -> Workflow:
    """Make a workflow public.

    Raises:
        PublishStateError: it is already public.
    """
    if workflow.publication.is_public:
        raise PublishStateError(f"workflow {workflow.id} is already published")
    publication = Publication(
        is_public=True, published_at=now, published_by=actor, require_login=require_login
    )
    event = audit(actor, "workflow_published", now, {"require_login": require_login})
    return workflow.model_copy(
        update={
            "publication": publication,
            "updated_at": now,
            "audit_log": [*workflow.audit_log, event],
        }
    )


def revoke_publication(workflow: Workflow, *, actor: str, now: datetime) -> Workflow:
    """Make a public workflow private again.

    Raises:
        PublishStateError: it is not public.
    """
    if not workflow.publication.is_public:
        raise PublishStateError(f"workflow {workflow.id} is not published")
    event = audit(actor, "workflow_publish_revoked", now)
    return workflow.model_copy(
        update={
            "publication": Publication(),
            "updated_at": now,
            "audit_log": [*workflow.audit_log, event],
        }
    )
