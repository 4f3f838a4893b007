"""ChatKit store rules: default titles, metadata merge and workflow scoping."""

from __future__ import annotations

from typing import Any

from orcheo_storage.models.chat import ChatContext

TITLE_LENGTH = 20


def default_title(item: Any) -> str | None:
    """First 20 characters of a user message's text, or ``None`` for other items."""
    if getattr(item, "type", None) != "user_message":
        return None
    texts = [getattr(part, "text", "") for part in getattr(item, "content", [])]
    text = " ".join(t for t in texts if t).strip()
    return text[:TITLE_LENGTH] or None


def merge_metadata(stored: dict[str, Any], context: ChatContext) -> dict[str, Any]:
    """Thread metadata with the request context's metadata merged in (context keys win)."""
    merged = {**stored, **context.metadata}
    if context.workflow_id is not None and "workflow_id" not in merged:
        merged["workflow_id"] = context.workflow_id
    return merged


def thread_workflow(metadata: dict[str, Any]) -> str | None:
    value = metadata.get("workflow_id")
    return str(value) if value is not None else None


def visible(thread_workflow_id: str | None, context: ChatContext) -> bool:
    """A thread is visible when the context names no workflow or names its workflow."""
    return context.workflow_id is None or thread_workflow_id == context.workflow_id


def bound_to(document: dict[str, Any], thread_id: str | None) -> dict[str, Any]:
    """An attachment document as loaded: its thread is the stored row's.

    The row's ``thread_id`` is authoritative (it is what unlinking clears and what
    today's Orcheo keeps: its attachment documents carry no thread at all).
    """
    return {**document, "thread_id": thread_id}
