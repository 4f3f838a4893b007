"""Contract: the ChatKit store (DOMAIN.md section 7) with real ``chatkit.types`` objects."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from chatkit.server import ChatKitServer, NonStreamingResult, StreamingResult
from chatkit.types import (
    Page,
    Thread,
    ThreadItemDoneEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    UserMessageItem,
)
from orcheo_storage.clock import utcnow
from orcheo_storage.errors import (
    AttachmentNotFoundError,
    ItemNotFoundError,
    ThreadNotFoundError,
    ValidationError,
)
from orcheo_storage.models.chat import ChatContext
from orcheo_storage.storage import Storage

from orcheo_storage_contract_tests._support import assert_utc
from orcheo_storage_contract_tests.chat_objects import (
    CHAT_CONTEXT,
    CHAT_T0,
    CHAT_WF1,
    CHAT_WF2,
    all_items,
    all_threads,
    assistant_message,
    chat_thread,
    file_attachment,
    stored_ordinals,
    user_message,
)

CTX = CHAT_CONTEXT
WF1 = CHAT_WF1
WF2 = CHAT_WF2


# --- threads --------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_thread_round_trip_and_full_thread_keeps_only_metadata(storage: Storage) -> None:
    chat = storage.chatkit
    created = datetime(2024, 1, 2, 3, 4, 5, 999999)
    full = Thread(
        id="thr-full",
        created_at=created,
        title="Hello",
        metadata={"big": 2**80, "ü": ["ß", 1.5]},
        items=Page(data=[user_message("msg-in-page", "thr-full", "hi")]),
    )
    await chat.save_thread(full, CTX)
    loaded = await chat.load_thread("thr-full", CTX)
    assert type(loaded) is ThreadMetadata
    assert loaded.title == "Hello"
    assert loaded.created_at == created.replace(tzinfo=UTC)
    assert_utc(loaded.created_at)
    assert loaded.metadata == {"big": 2**80, "ü": ["ß", 1.5]}
    page = await chat.load_thread_items("thr-full", None, 10, "asc", CTX)
    assert page.data == []
    assert page.has_more is False


@pytest.mark.asyncio
async def test_save_thread_is_an_upsert_keeping_created_at(storage: Storage) -> None:
    chat = storage.chatkit
    await chat.save_thread(chat_thread("thr-u", title="first"), CTX)
    later = CHAT_T0 + timedelta(days=3)
    await chat.save_thread(chat_thread("thr-u", title="second", created_at=later), CTX)
    loaded = await chat.load_thread("thr-u", CTX)
    assert loaded.created_at == CHAT_T0
    assert loaded.title == "second"
    assert await all_threads(storage, "asc", 10) == ["thr-u"]


@pytest.mark.asyncio
async def test_title_defaults_from_first_user_message(storage: Storage) -> None:
    chat = storage.chatkit
    await chat.save_thread(chat_thread("thr-t"), CTX)
    await chat.add_thread_item(
        "thr-t", assistant_message("a-1", "thr-t", "Welcome aboard, friend"), CTX
    )
    assert (await chat.load_thread("thr-t", CTX)).title is None
    text = "Schedule a meeting with the whole team tomorrow"
    await chat.add_thread_item("thr-t", user_message("u-1", "thr-t", text), CTX)
    assert (await chat.load_thread("thr-t", CTX)).title == text[:20]
    await chat.add_thread_item("thr-t", user_message("u-2", "thr-t", "Another question"), CTX)
    assert (await chat.load_thread("thr-t", CTX)).title == "Schedule a meeting w"
    await chat.save_thread(chat_thread("thr-titled", title="Kept"), CTX)
    await chat.add_thread_item("thr-titled", user_message("u-3", "thr-titled", "no override"), CTX)
    assert (await chat.load_thread("thr-titled", CTX)).title == "Kept"


@pytest.mark.asyncio
async def test_context_metadata_merges_in_and_wins(storage: Storage) -> None:
    chat = storage.chatkit
    ctx = ChatContext(workflow_id="wf-1", metadata={"b": "from-request", "c": 3})
    await chat.save_thread(chat_thread("thr-m", metadata={"a": 1, "b": "stored"}), ctx)
    loaded = await chat.load_thread("thr-m", ctx)
    assert loaded.metadata == {"a": 1, "b": "from-request", "c": 3, "workflow_id": "wf-1"}


@pytest.mark.asyncio
async def test_loading_is_scoped_to_the_context_workflow(storage: Storage) -> None:
    chat = storage.chatkit
    await chat.save_thread(chat_thread("thr-wf1"), WF1)
    await chat.save_thread(chat_thread("thr-wf2", created_at=CHAT_T0 + timedelta(seconds=1)), WF2)
    with pytest.raises(ThreadNotFoundError, match="chat thread not found: thr-wf1"):
        await chat.load_thread("thr-wf1", WF2)
    with pytest.raises(ThreadNotFoundError):
        await chat.load_thread_items("thr-wf1", None, 10, "asc", WF2)
    assert (await chat.load_thread("thr-wf1", WF1)).metadata["workflow_id"] == "wf-1"
    assert await all_threads(storage, "asc", 10, WF1) == ["thr-wf1"]
    assert await all_threads(storage, "asc", 10, WF2) == ["thr-wf2"]
    assert await all_threads(storage, "asc", 10, CTX) == ["thr-wf1", "thr-wf2"]


@pytest.mark.asyncio
async def test_load_threads_keyset_pages_both_orders(storage: Storage) -> None:
    chat = storage.chatkit
    ids = [f"thr-{n:02d}" for n in range(7)]
    # same created_at for two threads: the id breaks the tie
    stamps = [CHAT_T0 + timedelta(microseconds=n // 2) for n in range(7)]
    for tid, stamp in zip(reversed(ids), reversed(stamps), strict=True):
        await chat.save_thread(chat_thread(tid, created_at=stamp), CTX)
    first = await chat.load_threads(3, None, "asc", CTX)
    assert [t.id for t in first.data] == ids[:3]
    assert first.has_more is True
    assert await all_threads(storage, "asc", 3) == ids
    assert await all_threads(storage, "desc", 2) == list(reversed(ids))
    assert await all_threads(storage, "asc", 7) == ids
    last = await chat.load_threads(7, None, "asc", CTX)
    assert last.has_more is False
    unknown = await chat.load_threads(2, "no-such-thread", "asc", CTX)
    assert [t.id for t in unknown.data] == ids[:2]
    with pytest.raises(ValidationError, match="limit"):
        await chat.load_threads(0, None, "asc", CTX)


@pytest.mark.asyncio
async def test_hostile_thread_writes_nothing(storage: Storage) -> None:
    chat = storage.chatkit
    with pytest.raises(ValidationError, match="non-finite"):
        await chat.save_thread(chat_thread("thr-h", metadata={"x": float("inf")}), CTX)
    with pytest.raises(ValidationError, match="NUL"):
        await chat.save_thread(chat_thread("thr-h", title="a\x00b"), CTX)
    with pytest.raises(ValidationError, match="lone surrogates"):
        await chat.save_thread(chat_thread("thr-h", metadata={"k": ["\udfff"]}), CTX)
    with pytest.raises(ThreadNotFoundError):
        await chat.load_thread("thr-h", CTX)
    assert (await chat.load_threads(10, None, "asc", CTX)).data == []


# --- items ----------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_items_page_by_ordinal_not_id(storage: Storage) -> None:
    chat = storage.chatkit
    await chat.save_thread(chat_thread("thr-i"), CTX)
    ids = [f"z-{9 - n}" for n in range(8)]  # ids sort opposite to insertion
    for n, item_id in enumerate(ids):
        await chat.add_thread_item("thr-i", user_message(item_id, "thr-i", f"m{n}"), CTX)
    assert await stored_ordinals(storage, "thr-i") == list(range(8))
    assert await all_items(storage, "thr-i", "asc", 3) == ids
    assert await all_items(storage, "thr-i", "desc", 3) == list(reversed(ids))
    page = await chat.load_thread_items("thr-i", ids[2], 2, "asc", CTX)
    assert [i.id for i in page.data] == ids[3:5]
    assert page.has_more is True
    tail = await chat.load_thread_items("thr-i", ids[5], 5, "asc", CTX)
    assert [i.id for i in tail.data] == ids[6:]
    assert tail.has_more is False
    unknown = await chat.load_thread_items("thr-i", "not-an-item", 2, "asc", CTX)
    assert [i.id for i in unknown.data] == ids[:2]


@pytest.mark.asyncio
async def test_item_round_trip_and_save_item_keeps_ordinal(storage: Storage) -> None:
    chat = storage.chatkit
    await chat.save_thread(chat_thread("thr-s"), CTX)
    stamp = datetime(2024, 2, 29, 23, 59, 59, 1, tzinfo=UTC)
    first = user_message("i-1", "thr-s", "héllo \U0001f30d", created_at=stamp)
    await chat.add_thread_item("thr-s", first, CTX)
    await chat.add_thread_item("thr-s", assistant_message("i-2", "thr-s", "answer"), CTX)
    loaded = await chat.load_item("thr-s", "i-1", CTX)
    assert loaded == first
    assert loaded.created_at == stamp
    edited = user_message("i-1", "thr-s", "edited text", created_at=stamp)
    await chat.save_item("thr-s", edited, CTX)
    assert await all_items(storage, "thr-s", "asc", 10) == ["i-1", "i-2"]
    assert await chat.load_item("thr-s", "i-1", CTX) == edited
    await chat.save_item("thr-s", assistant_message("i-3", "thr-s", "new via save"), CTX)
    assert await all_items(storage, "thr-s", "asc", 10) == ["i-1", "i-2", "i-3"]
    assert await stored_ordinals(storage, "thr-s") == [0, 1, 2]


@pytest.mark.asyncio
async def test_item_errors(storage: Storage) -> None:
    chat = storage.chatkit
    await chat.save_thread(chat_thread("thr-e"), CTX)
    with pytest.raises(ValidationError, match="thread_id"):
        await chat.add_thread_item("thr-e", user_message("x-1", "thr-other", "hi"), CTX)
    with pytest.raises(ValidationError, match="thread_id"):
        await chat.save_item("thr-e", user_message("x-1", "thr-other", "hi"), CTX)
    with pytest.raises(ThreadNotFoundError, match="chat thread not found: thr-missing"):
        await chat.add_thread_item("thr-missing", user_message("x-2", "thr-missing", "hi"), CTX)
    with pytest.raises(ItemNotFoundError, match="chat item not found: x-1"):
        await chat.load_item("thr-e", "x-1", CTX)
    with pytest.raises(ValidationError, match="NUL"):
        await chat.add_thread_item("thr-e", user_message("x-3", "thr-e", "bad\x00"), CTX)
    assert (await chat.load_thread_items("thr-e", None, 10, "asc", CTX)).data == []
    assert (await chat.load_thread("thr-e", CTX)).title is None
    await chat.add_thread_item("thr-e", user_message("x-4", "thr-e", "fine"), CTX)
    assert await stored_ordinals(storage, "thr-e") == [0]


@pytest.mark.asyncio
async def test_delete_item(storage: Storage) -> None:
    chat = storage.chatkit
    await chat.save_thread(chat_thread("thr-d"), CTX)
    for n in range(3):
        await chat.add_thread_item("thr-d", user_message(f"d-{n}", "thr-d", "x"), CTX)
    await chat.delete_thread_item("thr-d", "d-1", CTX)
    assert await all_items(storage, "thr-d", "asc", 10) == ["d-0", "d-2"]
    with pytest.raises(ItemNotFoundError):
        await chat.load_item("thr-d", "d-1", CTX)
    await chat.add_thread_item("thr-d", user_message("d-3", "thr-d", "x"), CTX)
    assert await all_items(storage, "thr-d", "asc", 10) == ["d-0", "d-2", "d-3"]


@pytest.mark.asyncio
async def test_concurrent_adds_get_unique_gaplessstored_ordinals(storage: Storage) -> None:
    chat = storage.chatkit
    await chat.save_thread(chat_thread("thr-c"), CTX)
    await asyncio.gather(
        *(
            chat.add_thread_item("thr-c", user_message(f"c-{n:02d}", "thr-c", str(n)), CTX)
            for n in range(30)
        )
    )
    assert await stored_ordinals(storage, "thr-c") == list(range(30))
    assert sorted(await all_items(storage, "thr-c", "asc", 7)) == [f"c-{n:02d}" for n in range(30)]


# --- deletion, attachments and pruning ------------------------------------------------------------


@pytest.mark.asyncio
async def test_delete_thread_cascades_items_and_unlinks_attachments(storage: Storage) -> None:
    chat = storage.chatkit
    await chat.save_thread(chat_thread("thr-x"), CTX)
    await chat.save_thread(chat_thread("thr-keep"), CTX)
    await chat.add_thread_item("thr-x", user_message("x-item", "thr-x", "bye"), CTX)
    await chat.add_thread_item("thr-keep", user_message("k-item", "thr-keep", "stay"), CTX)
    await chat.save_attachment(
        file_attachment("att-x", thread_id="thr-x", storage_path="/blobs/x"), CTX
    )
    await chat.delete_thread("thr-x", CTX)
    with pytest.raises(ThreadNotFoundError):
        await chat.load_thread("thr-x", CTX)
    with pytest.raises((ItemNotFoundError, ThreadNotFoundError)):
        await chat.load_item("thr-x", "x-item", CTX)
    attachment = await chat.load_attachment("att-x", CTX)
    assert attachment.thread_id is None
    assert attachment.metadata == {"origin": "upload", "storage_path": "/blobs/x"}
    assert await stored_ordinals(storage, "thr-x") == []
    assert await all_items(storage, "thr-keep", "asc", 5) == ["k-item"]


@pytest.mark.asyncio
async def test_attachments_upsert_load_delete(storage: Storage) -> None:
    chat = storage.chatkit
    await chat.save_attachment(file_attachment("att-1"), CTX)
    assert await chat.load_attachment("att-1", CTX) == file_attachment("att-1")
    updated = file_attachment("att-1", storage_path="/blobs/1")
    await chat.save_attachment(updated, CTX)
    assert await chat.load_attachment("att-1", CTX) == updated
    await chat.delete_attachment("att-1", CTX)
    with pytest.raises(AttachmentNotFoundError, match="chat attachment not found: att-1"):
        await chat.load_attachment("att-1", CTX)


@pytest.mark.asyncio
async def test_prune_removes_stale_threads_and_reports_paths(storage: Storage) -> None:
    chat = storage.chatkit
    await chat.save_thread(chat_thread("thr-old"), CTX)
    await chat.save_thread(chat_thread("thr-bumped"), CTX)
    await chat.add_thread_item("thr-old", user_message("o-1", "thr-old", "old"), CTX)
    await chat.save_attachment(
        file_attachment("att-o1", thread_id="thr-old", storage_path="/b/o1"), CTX
    )
    await chat.save_attachment(file_attachment("att-o2", thread_id="thr-old"), CTX)
    # margins for a database that stamps updated_at with its own clock
    await asyncio.sleep(0.05)
    cutoff = utcnow()
    await asyncio.sleep(0.05)
    await chat.save_thread(chat_thread("thr-bumped", title="touched"), CTX)
    await chat.save_thread(chat_thread("thr-new", created_at=CHAT_T0 - timedelta(days=9)), CTX)
    result = await chat.prune_threads(older_than=cutoff)
    assert result.threads_deleted == 1
    assert result.storage_paths == ["/b/o1"]
    with pytest.raises(ThreadNotFoundError):
        await chat.load_thread("thr-old", CTX)
    for attachment_id in ("att-o1", "att-o2"):
        with pytest.raises(AttachmentNotFoundError):
            await chat.load_attachment(attachment_id, CTX)
    assert sorted(await all_threads(storage, "asc", 10)) == ["thr-bumped", "thr-new"]
    assert (await chat.prune_threads(older_than=cutoff)).threads_deleted == 0


@pytest.mark.asyncio
async def test_returned_objects_are_copies(storage: Storage) -> None:
    chat = storage.chatkit
    await chat.save_thread(chat_thread("thr-cp", metadata={"list": [1]}), CTX)
    await chat.add_thread_item("thr-cp", user_message("cp-1", "thr-cp", "orig"), CTX)
    thread = await chat.load_thread("thr-cp", CTX)
    thread.metadata["list"].append(2)
    thread.title = "mutated"
    item = await chat.load_item("thr-cp", "cp-1", CTX)
    assert isinstance(item, UserMessageItem)
    item.content[0].text = "mutated"
    page = await chat.load_thread_items("thr-cp", None, 5, "asc", CTX)
    page.data.clear()
    again = await chat.load_thread("thr-cp", CTX)
    assert again.metadata == {"list": [1]}
    assert again.title == "orig"
    reloaded = await chat.load_item("thr-cp", "cp-1", CTX)
    assert reloaded == user_message("cp-1", "thr-cp", "orig")


# --- capabilities ---------------------------------------------------------------------------------


@pytest.mark.orcheo_capability("json_containment")
@pytest.mark.asyncio
async def test_filter_threads_by_metadata_containment(storage: Storage) -> None:
    chat = storage.chatkit
    await chat.save_thread(chat_thread("f-1", metadata={"team": "red", "labels": ["a", "b"]}), WF1)
    await chat.save_thread(chat_thread("f-2", metadata={"team": "blue", "labels": ["b"]}), WF1)
    await chat.save_thread(chat_thread("f-3", metadata={"team": "red"}), WF2)
    red = await chat.filter_threads({"team": "red"}, WF1)
    assert [t.id for t in red] == ["f-1"]
    both = await chat.filter_threads({"labels": ["b"]}, WF1)
    assert sorted(t.id for t in both) == ["f-1", "f-2"]
    assert sorted(t.id for t in await chat.filter_threads({"team": "red"}, CTX)) == ["f-1", "f-3"]
    assert await chat.filter_threads({"team": "green"}, CTX) == []


@pytest.mark.orcheo_capability("full_text_search")
@pytest.mark.asyncio
async def test_search_items_full_text(storage: Storage) -> None:
    chat = storage.chatkit
    await chat.save_thread(chat_thread("s-1"), CTX)
    await chat.save_thread(chat_thread("s-2"), CTX)
    await chat.add_thread_item("s-1", user_message("s-a", "s-1", "The invoice is overdue"), CTX)
    await chat.add_thread_item(
        "s-1", assistant_message("s-b", "s-1", "I will send the invoice"), CTX
    )
    await chat.add_thread_item("s-1", user_message("s-c", "s-1", "Thanks a lot"), CTX)
    await chat.add_thread_item("s-2", user_message("s-d", "s-2", "invoice elsewhere"), CTX)
    found = await chat.search_items("s-1", "invoice", CTX)
    assert sorted(i.id for i in found) == ["s-a", "s-b"]
    assert await chat.search_items("s-1", "giraffe", CTX) == []
    with pytest.raises(ThreadNotFoundError):
        await chat.search_items("s-1", "invoice", ChatContext(workflow_id="elsewhere"))


# --- a real ChatKit server ------------------------------------------------------------------------


class _EchoServer(ChatKitServer[ChatContext]):
    async def respond(
        self,
        thread: ThreadMetadata,
        input_user_message: UserMessageItem | None,
        context: ChatContext,
    ) -> AsyncIterator[ThreadStreamEvent]:
        text = "" if input_user_message is None else input_user_message.content[0].text
        yield ThreadItemDoneEvent(
            item=assistant_message(
                self.store.generate_item_id("message", thread, context),
                thread.id,
                f"echo: {text}",
                created_at=utcnow(),
            )
        )


@pytest.mark.asyncio
async def test_real_chatkit_server_runs_on_the_store(storage: Storage) -> None:
    server = _EchoServer(storage.chatkit)  # type: ignore[arg-type]
    ctx = ChatContext(workflow_id="wf-srv")
    request = {
        "type": "threads.create",
        "params": {
            "input": {
                "content": [{"type": "input_text", "text": "What is the weather like today?"}],
                "attachments": [],
                "inference_options": {},
            }
        },
    }
    result = await server.process(json.dumps(request), ctx)
    assert isinstance(result, StreamingResult)
    events = [e async for e in result]
    assert events
    listed = await server.process(json.dumps({"type": "threads.list", "params": {"limit": 5}}), ctx)
    assert isinstance(listed, NonStreamingResult)
    threads = json.loads(listed.json)["data"]
    assert len(threads) == 1
    thread_id = threads[0]["id"]
    assert threads[0]["title"] == "What is the weather "
    fetched = await server.process(
        json.dumps({"type": "threads.get_by_id", "params": {"thread_id": thread_id}}), ctx
    )
    assert isinstance(fetched, NonStreamingResult)
    items = json.loads(fetched.json)["items"]["data"]
    assert [i["type"] for i in items] == ["user_message", "assistant_message"]
    assert items[1]["content"][0]["text"] == "echo: What is the weather like today?"
    other = await server.process(json.dumps({"type": "threads.list", "params": {}}), WF2)
    assert isinstance(other, NonStreamingResult)
    assert json.loads(other.json)["data"] == []
