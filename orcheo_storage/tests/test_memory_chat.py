"""Smoke tests of the memory backend's ChatKit store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

# Imported first: it loads chatkit with its import-time DeprecationWarning silenced.
from orcheo_storage.chatkit_types import Store  # isort: skip
from chatkit.types import (  # isort: skip
    AssistantMessageContent,
    AssistantMessageItem,
    FileAttachment,
    InferenceOptions,
    Page,
    Thread,
    ThreadMetadata,
    UserMessageItem,
    UserMessageTextContent,
)

from orcheo_storage.errors import (
    AttachmentNotFoundError,
    ItemNotFoundError,
    ThreadNotFoundError,
    ValidationError,
)
from orcheo_storage.models import ChatContext
from orcheo_storage.protocols import ChatStore
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


CTX = ChatContext(workflow_id="wf-1", metadata={"user": "u1"})
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def storage() -> AsyncIterator[Storage]:
    async with open_storage(memory_settings()) as opened:
        yield opened


def user(thread_id: str, item_id: str, text: str) -> UserMessageItem:
    return UserMessageItem(
        id=item_id,
        thread_id=thread_id,
        created_at=T0,
        content=[UserMessageTextContent(text=text)],
        inference_options=InferenceOptions(),
    )


def assistant(thread_id: str, item_id: str, text: str) -> AssistantMessageItem:
    return AssistantMessageItem(
        id=item_id,
        thread_id=thread_id,
        created_at=T0,
        content=[AssistantMessageContent(text=text)],
    )


async def test_is_a_chatkit_store(storage: Storage) -> None:
    assert isinstance(storage.chatkit, Store)
    assert isinstance(storage.chatkit, ChatStore)


async def test_threads_upsert_scope_and_title(storage: Storage) -> None:
    chat = storage.chatkit
    with pytest.raises(ThreadNotFoundError):
        await chat.load_thread("thr_1", CTX)
    await chat.save_thread(ThreadMetadata(id="thr_1", created_at=T0, metadata={"a": 1}), CTX)
    loaded = await chat.load_thread("thr_1", CTX)
    assert loaded.metadata == {"a": 1, "user": "u1", "workflow_id": "wf-1"}
    loaded.metadata["mutated"] = True
    assert "mutated" not in (await chat.load_thread("thr_1", CTX)).metadata
    with pytest.raises(ThreadNotFoundError):
        await chat.load_thread("thr_1", ChatContext(workflow_id="other"))
    assert (await chat.load_thread("thr_1", ChatContext())).id == "thr_1"

    await chat.add_thread_item(
        "thr_1", user("thr_1", "m1", "Hello there, this is a long message"), CTX
    )
    assert (await chat.load_thread("thr_1", CTX)).title == "Hello there, this is"
    # A full Thread with items is accepted; only metadata is kept, created_at is preserved.
    full = Thread(
        id="thr_1",
        created_at=T0 + timedelta(days=1),
        title="Renamed",
        items=Page(data=[assistant("thr_1", "zz", "ignored")]),
    )
    await chat.save_thread(full, CTX)
    again = await chat.load_thread("thr_1", CTX)
    assert type(again) is ThreadMetadata
    assert (again.title, again.created_at) == ("Renamed", T0)
    with pytest.raises(ItemNotFoundError):
        await chat.load_item("thr_1", "zz", CTX)


async def test_load_threads_keyset_pages(storage: Storage) -> None:
    chat = storage.chatkit
    for i in range(5):
        await chat.save_thread(ThreadMetadata(id=f"t{i}", created_at=T0 + timedelta(i)), CTX)
    await chat.save_thread(ThreadMetadata(id="hidden", created_at=T0), ChatContext(workflow_id="x"))
    first = await chat.load_threads(2, None, "desc", CTX)
    assert [t.id for t in first.data] == ["t4", "t3"]
    assert first.has_more
    assert first.after == "t3"
    second = await chat.load_threads(10, first.after, "desc", CTX)
    assert [t.id for t in second.data] == ["t2", "t1", "t0"]
    assert not second.has_more
    unknown = await chat.load_threads(2, "no-such-thread", "asc", CTX)
    assert [t.id for t in unknown.data] == ["t0", "t1"]
    with pytest.raises(ValidationError):
        await chat.load_threads(0, None, "asc", CTX)
    with pytest.raises(ValidationError):
        await chat.load_threads(1, None, "sideways", CTX)


async def test_items_ordinals_paging_and_errors(storage: Storage) -> None:
    chat = storage.chatkit
    await chat.save_thread(ThreadMetadata(id="thr", created_at=T0), CTX)
    for i in range(4):
        await chat.add_thread_item("thr", assistant("thr", f"i{i}", f"answer {i}"), CTX)
    await chat.save_item("thr", assistant("thr", "i1", "edited"), CTX)
    page = await chat.load_thread_items("thr", None, 3, "asc", CTX)
    assert [i.id for i in page.data] == ["i0", "i1", "i2"]
    assert page.has_more
    rest = await chat.load_thread_items("thr", page.after, 3, "asc", CTX)
    assert [i.id for i in rest.data] == ["i3"]
    desc = await chat.load_thread_items("thr", None, 10, "desc", CTX)
    assert [i.id for i in desc.data] == ["i3", "i2", "i1", "i0"]
    edited = await chat.load_item("thr", "i1", CTX)
    assert isinstance(edited, AssistantMessageItem)
    assert edited.content[0].text == "edited"
    edited.content[0].text = "mutated by the caller"
    edited.content.clear()
    stored = await chat.load_item("thr", "i1", CTX)
    assert isinstance(stored, AssistantMessageItem)
    assert [c.text for c in stored.content] == ["edited"]
    with pytest.raises(ValidationError):
        await chat.add_thread_item("thr", assistant("other", "x", "y"), CTX)
    with pytest.raises(ThreadNotFoundError):
        await chat.add_thread_item("missing", assistant("missing", "x", "y"), CTX)
    with pytest.raises(ValidationError):
        await chat.add_thread_item("thr", assistant("thr", "nul", "bad\x00"), CTX)
    await chat.delete_thread_item("thr", "i0", CTX)
    with pytest.raises(ItemNotFoundError):
        await chat.load_item("thr", "i0", CTX)
    found = await chat.search_items("thr", "ANSWER", CTX)
    assert [i.id for i in found] == ["i2", "i3"]
    assert [t.id for t in await chat.filter_threads({"user": "u1"}, CTX)] == ["thr"]
    assert await chat.filter_threads({"user": "u2"}, CTX) == []


async def test_attachments_delete_and_prune(storage: Storage) -> None:
    chat = storage.chatkit
    await chat.save_thread(ThreadMetadata(id="keep", created_at=T0), CTX)
    await chat.save_thread(ThreadMetadata(id="old", created_at=T0), CTX)
    for att_id, thread_id in (("a1", "keep"), ("a2", "old")):
        attachment = FileAttachment(
            id=att_id,
            name=f"{att_id}.txt",
            mime_type="text/plain",
            thread_id=thread_id,
            metadata={"storage_path": f"/files/{att_id}"},
        )
        await chat.save_attachment(attachment, CTX)
    assert (await chat.load_attachment("a1", CTX)).name == "a1.txt"
    await chat.add_thread_item("keep", assistant("keep", "k1", "hi"), CTX)
    await chat.delete_thread("keep", CTX)
    with pytest.raises(ThreadNotFoundError):
        await chat.load_thread("keep", CTX)
    unlinked = await chat.load_attachment("a1", CTX)
    assert unlinked.thread_id is None

    result = await chat.prune_threads(older_than=datetime.now(UTC) + timedelta(seconds=1))
    assert result.threads_deleted == 1
    assert result.storage_paths == ["/files/a2"]
    with pytest.raises(AttachmentNotFoundError):
        await chat.load_attachment("a2", CTX)
    await chat.delete_attachment("a1", CTX)
    with pytest.raises(AttachmentNotFoundError):
        await chat.load_attachment("a1", CTX)
