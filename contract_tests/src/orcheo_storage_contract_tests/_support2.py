"""Small shared assertions of the history/tokens/agentensor/vault/chat/concurrency modules."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

# openai-chatkit warns about its own widget classes at import time; the suite runs with
# warnings as errors, so the (one-time) import happens with that warning silenced.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import chatkit.server  # noqa: F401
    from chatkit.types import (
        AssistantMessageContent,
        AssistantMessageItem,
        FileAttachment,
        InferenceOptions,
        ThreadMetadata,
        UserMessageItem,
        UserMessageTextContent,
    )


def assert_utc(value: datetime | None) -> None:
    """Assert ``value`` is an aware datetime in UTC (microseconds are compared by callers)."""
    assert value is not None
    assert value.tzinfo is not None, f"naive datetime returned: {value!r}"
    assert value.utcoffset() == timedelta(0), f"datetime not in UTC: {value!r}"


def nested(depth: int) -> dict[str, Any]:
    """A JSON object nested ``depth`` levels deep (well inside the core's limit)."""
    value: Any = {"leaf": [1, "x", None]}
    for level in range(depth):
        value = {f"l{level}": value}
    return dict(value)


# --- ChatKit objects ----------------------------------------------------------------------------

CHAT_T0 = datetime(2024, 6, 1, 9, 30, 0, 250001, tzinfo=UTC)


def chat_thread(
    thread_id: str,
    *,
    created_at: datetime | None = None,
    title: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> ThreadMetadata:
    """A ChatKit thread's metadata."""
    return ThreadMetadata(
        id=thread_id, created_at=created_at or CHAT_T0, title=title, metadata=metadata or {}
    )


def user_message(
    item_id: str, thread_id: str, text: str, *, created_at: datetime | None = None
) -> UserMessageItem:
    """A user message item with one text part."""
    return UserMessageItem(
        id=item_id,
        thread_id=thread_id,
        created_at=created_at or CHAT_T0,
        content=[UserMessageTextContent(text=text)],
        inference_options=InferenceOptions(),
    )


def assistant_message(
    item_id: str, thread_id: str, text: str, *, created_at: datetime | None = None
) -> AssistantMessageItem:
    """An assistant message item with one output text part."""
    return AssistantMessageItem(
        id=item_id,
        thread_id=thread_id,
        created_at=created_at or CHAT_T0,
        content=[AssistantMessageContent(text=text)],
    )


def file_attachment(
    attachment_id: str, *, thread_id: str | None = None, storage_path: str | None = None
) -> FileAttachment:
    """A file attachment; ``storage_path`` travels in its metadata (the bytes stay outside)."""
    metadata: dict[str, Any] = {"origin": "upload"}
    if storage_path is not None:
        metadata["storage_path"] = storage_path
    return FileAttachment(
        id=attachment_id,
        name=f"{attachment_id}.txt",
        mime_type="text/plain",
        thread_id=thread_id,
        metadata=metadata,
    )
