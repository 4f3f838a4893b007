"""Contract: the ChatKit store (DOMAIN.md section 7) with real ``chatkit.types`` objects."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chatkit.server import ChatKitServer, NonStreamingResult, StreamingResult
from chatkit.types import (
    Page,
    Thread,
    ThreadItem,
    ThreadItemDoneEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    UserMessageItem,
)
from hypothesis import given, note
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule
from orcheo_storage.clock import utcnow
from orcheo_storage.errors import (
    AttachmentNotFoundError,
    ItemNotFoundError,
    ThreadNotFoundError,
    ValidationError,
)
from orcheo_storage.jsoncodec import normalise_json
from orcheo_storage.models.chat import ChatContext
from orcheo_storage.protocols.backend import Subsystem
from orcheo_storage.storage import Storage

from orcheo_storage_contract_tests._runner import (
    AsyncStateMachine,
    ProvisionStorage,
    run,
    run_machine,
)
from orcheo_storage_contract_tests._support2 import (
    CHAT_T0,
    assert_utc,
    assistant_message,
    chat_thread,
    file_attachment,
    user_message,
)
from orcheo_storage_contract_tests.strategies import (
    hostile_json,
    hostile_text,
    json_objects,
    safe_text,
)

CTX = ChatContext()
WF1 = ChatContext(workflow_id="wf-1")
WF2 = ChatContext(workflow_id="wf-2")


async def _ordinals(storage: Storage, thread_id: str) -> list[int]:
    """The stored ordinals of a thread's items, read through the bulk-export backdoor."""
    bulk = storage.session_for(Subsystem.CHATKIT).bulk()
    ordinals: list[int] = []
    async for batch in bulk.export_rows("chat_items"):
        ordinals.extend(int(r["ordinal"]) for r in batch if r["thread_id"] == thread_id)  # type: ignore[arg-type]
    return sorted(ordinals)


async def _all_items(
    storage: Storage, thread_id: str, order: str, limit: int, ctx: ChatContext = CTX
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


async def _all_threads(
    storage: Storage, order: str, limit: int, ctx: ChatContext = CTX
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
    assert await _all_threads(storage, "asc", 10) == ["thr-u"]


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
    assert await _all_threads(storage, "asc", 10, WF1) == ["thr-wf1"]
    assert await _all_threads(storage, "asc", 10, WF2) == ["thr-wf2"]
    assert await _all_threads(storage, "asc", 10, CTX) == ["thr-wf1", "thr-wf2"]


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
    assert await _all_threads(storage, "asc", 3) == ids
    assert await _all_threads(storage, "desc", 2) == list(reversed(ids))
    assert await _all_threads(storage, "asc", 7) == ids
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
    assert await _ordinals(storage, "thr-i") == list(range(8))
    assert await _all_items(storage, "thr-i", "asc", 3) == ids
    assert await _all_items(storage, "thr-i", "desc", 3) == list(reversed(ids))
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
    assert await _all_items(storage, "thr-s", "asc", 10) == ["i-1", "i-2"]
    assert await chat.load_item("thr-s", "i-1", CTX) == edited
    await chat.save_item("thr-s", assistant_message("i-3", "thr-s", "new via save"), CTX)
    assert await _all_items(storage, "thr-s", "asc", 10) == ["i-1", "i-2", "i-3"]
    assert await _ordinals(storage, "thr-s") == [0, 1, 2]


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
    assert await _ordinals(storage, "thr-e") == [0]


@pytest.mark.asyncio
async def test_delete_item(storage: Storage) -> None:
    chat = storage.chatkit
    await chat.save_thread(chat_thread("thr-d"), CTX)
    for n in range(3):
        await chat.add_thread_item("thr-d", user_message(f"d-{n}", "thr-d", "x"), CTX)
    await chat.delete_thread_item("thr-d", "d-1", CTX)
    assert await _all_items(storage, "thr-d", "asc", 10) == ["d-0", "d-2"]
    with pytest.raises(ItemNotFoundError):
        await chat.load_item("thr-d", "d-1", CTX)
    await chat.add_thread_item("thr-d", user_message("d-3", "thr-d", "x"), CTX)
    assert await _all_items(storage, "thr-d", "asc", 10) == ["d-0", "d-2", "d-3"]


@pytest.mark.asyncio
async def test_concurrent_adds_get_unique_gapless_ordinals(storage: Storage) -> None:
    chat = storage.chatkit
    await chat.save_thread(chat_thread("thr-c"), CTX)
    await asyncio.gather(
        *(
            chat.add_thread_item("thr-c", user_message(f"c-{n:02d}", "thr-c", str(n)), CTX)
            for n in range(30)
        )
    )
    assert await _ordinals(storage, "thr-c") == list(range(30))
    assert sorted(await _all_items(storage, "thr-c", "asc", 7)) == [f"c-{n:02d}" for n in range(30)]


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
    assert await _ordinals(storage, "thr-x") == []
    assert await _all_items(storage, "thr-keep", "asc", 5) == ["k-item"]


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
    assert sorted(await _all_threads(storage, "asc", 10)) == ["thr-bumped", "thr-new"]
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


# --- properties -----------------------------------------------------------------------------------


@given(
    metadata=json_objects,
    texts=st.lists(safe_text.filter(lambda s: s.strip() != ""), min_size=1, max_size=5),
    title=st.none() | safe_text,
)
def test_property_round_trip(
    provision_storage: ProvisionStorage,
    metadata: dict[str, Any],
    texts: list[str],
    title: str | None,
) -> None:
    async def body() -> None:
        async with provision_storage() as storage:
            chat = storage.chatkit
            await chat.save_thread(chat_thread("p-thr", metadata=metadata, title=title), CTX)
            loaded = await chat.load_thread("p-thr", CTX)
            assert loaded.metadata == normalise_json(metadata)
            for n, text in enumerate(texts):
                await chat.add_thread_item("p-thr", user_message(f"p-{n}", "p-thr", text), CTX)
            page = await chat.load_thread_items("p-thr", None, 100, "asc", CTX)
            assert [i.content[0].text for i in page.data if isinstance(i, UserMessageItem)] == texts
            expected_title = title or " ".join([texts[0]]).strip()[:20] or None
            assert (await chat.load_thread("p-thr", CTX)).title == expected_title

    run(body())


@given(bad=hostile_json(), bad_text=hostile_text())
def test_property_hostile_input_rejected(
    provision_storage: ProvisionStorage, bad: dict[str, Any], bad_text: str
) -> None:
    async def body() -> None:
        async with provision_storage() as storage:
            chat = storage.chatkit
            with pytest.raises(ValidationError):
                await chat.save_thread(chat_thread("h-thr", metadata=bad), CTX)
            with pytest.raises(ValidationError):
                await chat.save_thread(chat_thread("h-thr", title=bad_text), CTX)
            assert (await chat.load_threads(10, None, "asc", CTX)).data == []
            await chat.save_thread(chat_thread("h-thr"), CTX)
            with pytest.raises(ValidationError):
                await chat.add_thread_item("h-thr", user_message("h-1", "h-thr", bad_text), CTX)
            assert (await chat.load_thread_items("h-thr", None, 10, "asc", CTX)).data == []

    run(body())


# --- state machine --------------------------------------------------------------------------------


@dataclasses.dataclass
class _ThreadModel:
    workflow: str
    created_at: datetime
    items: list[str] = dataclasses.field(default_factory=list)


class ChatMachine(AsyncStateMachine):
    """Threads and items against a model: order, scoping, pagination exactly once."""

    def __init__(self, provision: ProvisionStorage) -> None:
        super().__init__(provision)
        self.threads: dict[str, _ThreadModel] = {}
        self.counter = 0

    def _next(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.counter:03d}"

    @rule(workflow=st.sampled_from(["wf-a", "wf-b"]), offset=st.integers(min_value=0, max_value=3))
    def create_thread(self, workflow: str, offset: int) -> None:
        tid = self._next("t")
        created = CHAT_T0 + timedelta(microseconds=offset)
        self.call(
            self.storage.chatkit.save_thread(
                chat_thread(tid, created_at=created), ChatContext(workflow_id=workflow)
            )
        )
        self.threads[tid] = _ThreadModel(workflow, created)

    @precondition(lambda self: bool(self.threads))
    @rule(data=st.data(), assistant=st.booleans())
    def add_item(self, data: st.DataObject, assistant: bool) -> None:
        tid = data.draw(st.sampled_from(list(self.threads)))
        item_id = self._next("i")
        item: ThreadItem = (
            assistant_message(item_id, tid, "a") if assistant else user_message(item_id, tid, "u")
        )
        self.call(
            self.storage.chatkit.add_thread_item(
                tid, item, ChatContext(workflow_id=self.threads[tid].workflow)
            )
        )
        self.threads[tid].items.append(item_id)

    @precondition(lambda self: any(t.items for t in self.threads.values()))
    @rule(data=st.data())
    def resave_item(self, data: st.DataObject) -> None:
        tid = data.draw(st.sampled_from([t for t, m in self.threads.items() if m.items]))
        item_id = data.draw(st.sampled_from(self.threads[tid].items))
        self.call(
            self.storage.chatkit.save_item(tid, assistant_message(item_id, tid, "resaved"), CTX)
        )

    @precondition(lambda self: any(t.items for t in self.threads.values()))
    @rule(data=st.data())
    def delete_item(self, data: st.DataObject) -> None:
        tid = data.draw(st.sampled_from([t for t, m in self.threads.items() if m.items]))
        item_id = data.draw(st.sampled_from(self.threads[tid].items))
        self.call(self.storage.chatkit.delete_thread_item(tid, item_id, CTX))
        self.threads[tid].items.remove(item_id)

    @precondition(lambda self: bool(self.threads))
    @rule(data=st.data())
    def delete_thread(self, data: st.DataObject) -> None:
        tid = data.draw(st.sampled_from(list(self.threads)))
        self.call(self.storage.chatkit.delete_thread(tid, CTX))
        del self.threads[tid]

    @precondition(lambda self: bool(self.threads))
    @rule(
        data=st.data(),
        limit=st.integers(min_value=1, max_value=4),
        order=st.sampled_from(["asc", "desc"]),
    )
    def page_items(self, data: st.DataObject, limit: int, order: str) -> None:
        tid = data.draw(st.sampled_from(list(self.threads)))
        seen = self.call(_all_items(self.storage, tid, order, limit))
        expected = self.threads[tid].items
        assert seen == (expected if order == "asc" else list(reversed(expected)))

    @rule(
        limit=st.integers(min_value=1, max_value=4),
        order=st.sampled_from(["asc", "desc"]),
        scope=st.sampled_from([None, "wf-a", "wf-b"]),
    )
    def page_threads(self, limit: int, order: str, scope: str | None) -> None:
        seen = self.call(_all_threads(self.storage, order, limit, ChatContext(workflow_id=scope)))
        expected = sorted(
            (t for t, m in self.threads.items() if scope is None or m.workflow == scope),
            key=lambda t: (self.threads[t].created_at, t),
            reverse=order == "desc",
        )
        note(f"threads {order} limit {limit} scope {scope}: {seen}")
        assert seen == expected

    @invariant()
    def ordinals_gapless_and_unique(self) -> None:
        for tid, model in self.threads.items():
            ordinals = self.call(_ordinals(self.storage, tid))
            assert len(ordinals) == len(set(ordinals)) == len(model.items)
            assert ordinals == sorted(ordinals)


def test_chat_state_machine(provision_storage: ProvisionStorage) -> None:
    run_machine(ChatMachine, provision_storage)
