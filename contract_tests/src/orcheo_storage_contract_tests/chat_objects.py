"""ChatKit objects for the chat contract modules, and paging through a chat store."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from typing import Any

from orcheo_storage.models.chat import ChatContext
from orcheo_storage.protocols.backend import Subsystem
from orcheo_storage.storage import Storage

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


# --- ChatKit store: paging through everything, and the stored ordinals ------------------------

CHAT_CONTEXT = ChatContext()
"""The request context of chat tests that do not scope by workflow."""
CHAT_WF1 = ChatContext(workflow_id="wf-1")
"""A request scoped to workflow ``wf-1``."""
CHAT_WF2 = ChatContext(workflow_id="wf-2")
"""A request scoped to workflow ``wf-2``."""


async def stored_ordinals(storage: Storage, thread_id: str) -> list[int]:
    """The stored ordinals of a thread's items, read through the bulk-export backdoor."""
    bulk = storage.session_for(Subsystem.CHATKIT).bulk()
    ordinals: list[int] = []
    async for batch in bulk.export_rows("chat_items"):
        ordinals.extend(int(r["ordinal"]) for r in batch if r["thread_id"] == thread_id)  # type: ignore[arg-type]
    return sorted(ordinals)


async def all_items(
    storage: Storage, thread_id: str, order: str, limit: int, ctx: ChatContext = CHAT_CONTEXT
) -> list[str]:
    seen: list[str] = []
    after: str | None = None
    for _ in range(1000):
        page = await storage.chatkit.load_thread_items(thread_id, after, limit, order, ctx)
        assert len(page.data) <= limit
        seen.extend(i.id for i in page.data)
        if not page.has_more:
            return seen
        assert page.after is not None, "has_more without an after cursor"
        after = page.after
    raise AssertionError("item pagination does not terminate")


async def all_threads(
    storage: Storage, order: str, limit: int, ctx: ChatContext = CHAT_CONTEXT
) -> list[str]:
    seen: list[str] = []
    after: str | None = None
    for _ in range(1000):
        page = await storage.chatkit.load_threads(limit, after, order, ctx)
        assert len(page.data) <= limit
        seen.extend(t.id for t in page.data)
        if not page.has_more:
            return seen
        assert page.after is not None, "has_more without an after cursor"
        after = page.after
    raise AssertionError("thread pagination does not terminate")
