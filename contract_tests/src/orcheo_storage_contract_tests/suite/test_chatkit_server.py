"""Contract: the real ``chatkit.server.ChatKitServer`` runs on the backend's ChatKit store.

Every flow goes through ``server.process(request, context)`` (see :mod:`..chatkit_server`)
and is checked twice: through the server's answers and through the store itself. Each
test runs with the request context as a :class:`ChatContext` and as the plain mapping
today's Orcheo passes. Skipped only when the backend does not provide the ChatKit store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from chatkit.server import StreamingResult
from chatkit.store import NotFoundError as ChatKitNotFoundError
from chatkit.types import ClientToolCallItem, HiddenContextItem, SDKHiddenContextItem
from orcheo_storage.errors import (
    AttachmentNotFoundError,
    ItemNotFoundError,
    NotFoundError,
    ThreadNotFoundError,
)
from orcheo_storage.models.chat import ChatContext
from orcheo_storage.storage import Storage

from orcheo_storage_contract_tests.chatkit_server import (
    HANG,
    HIDDEN,
    MANY,
    REMOVE,
    REPLACE,
    TOOL,
    Answer,
    BlobStore,
    ScriptedServer,
    call,
    ok,
    pages,
    reply_text,
    request,
    user_input,
)

pytestmark = pytest.mark.orcheo_subsystem("chatkit")

Context = Callable[..., Any]


@pytest.fixture(params=["ChatContext", "mapping"])
def make_context(request: pytest.FixtureRequest) -> Context:
    """Builds the request context of one workflow, in the kind this run of the test uses:
    a ``ChatContext``, or the mapping Orcheo passes (with keys the store does not use)."""

    def build(workflow_id: str, **metadata: Any) -> Any:
        if request.param == "ChatContext":
            return ChatContext(workflow_id=workflow_id, metadata=metadata)
        return {
            "workflow_id": workflow_id,
            "metadata": metadata,
            "actor": "chatkit",
            "auth_mode": "publish",
        }

    return build


@pytest.fixture
def blobs() -> BlobStore:
    return BlobStore()


@pytest.fixture
def server(storage: Storage, blobs: BlobStore) -> ScriptedServer:
    return ScriptedServer(storage.chatkit, blobs)  # type: ignore[arg-type]


@pytest.fixture
def ctx(make_context: Context) -> Any:
    return make_context("wf-srv", team="red")


async def create(server: ScriptedServer, ctx: Any, text: str, **kwargs: Any) -> tuple[str, Answer]:
    """``threads.create`` with one user message; the new thread's id and the answer."""
    answer = await call(server, request("threads.create", input=user_input(text, **kwargs)), ctx)
    assert answer.status == 200, repr(answer.error)
    return answer.events("thread.created")[0]["thread"]["id"], answer


async def say(server: ScriptedServer, ctx: Any, thread_id: str, text: str) -> Answer:
    body = request("threads.add_user_message", thread_id=thread_id, input=user_input(text))
    answer = await call(server, body, ctx)
    assert answer.status == 200, repr(answer.error)
    return answer


async def stored_items(storage: Storage, thread_id: str, ctx: Any) -> list[Any]:
    """Every item the store holds for the thread, oldest first (hidden ones included)."""
    page = await storage.chatkit.load_thread_items(thread_id, None, 1000, "asc", ctx)
    assert page.has_more is False
    return list(page.data)


def texts(items: list[Any]) -> list[str]:
    """A readable summary of items: ``type:text`` (text of messages only)."""
    out = []
    for item in items:
        content = getattr(item, "content", None)
        if isinstance(content, list):
            out.append(f"{item.type}:{' '.join(getattr(part, 'text', '') for part in content)}")
        else:
            out.append(item.type)
    return out


def assert_not_found(answer: Answer, error: type[NotFoundError]) -> None:
    """The server answered 404 because the store raised an error that is both ChatKit's
    ``NotFoundError`` and the storage layer's own typed error."""
    assert answer.status == 404, f"expected not found, got {answer.status}: {answer.error!r}"
    assert isinstance(answer.error, ChatKitNotFoundError)
    assert isinstance(answer.error, error), repr(answer.error)


# --- creating, replying, reading back --------------------------------------------------------


async def test_create_streams_a_reply_and_the_store_keeps_both_messages(
    server: ScriptedServer, storage: Storage, ctx: Any
) -> None:
    text = "What is the weather like on Mars today?"
    thread_id, answer = await create(server, ctx, text)
    kinds = [e["type"] for e in answer.body]
    assert kinds[:3] == ["thread.created", "thread.item.done", "stream_options"]
    assert kinds.count("thread.item.updated") == 2  # the reply streamed in two deltas
    assert kinds[-1] == "thread.item.done"
    user, reply = (e["item"] for e in answer.events("thread.item.done"))
    deltas = "".join(e["update"]["delta"] for e in answer.events("thread.item.updated"))
    assert deltas == reply["content"][0]["text"] == reply_text(text)

    items = await stored_items(storage, thread_id, ctx)
    assert [i.id for i in items] == [user["id"], reply["id"]]
    assert texts(items) == [f"user_message:{text}", f"assistant_message:{reply_text(text)}"]
    thread = await storage.chatkit.load_thread(thread_id, ctx)
    assert thread.title == text[:20]  # from the first user message
    # the reply counted itself in the thread (saved by the server while streaming), and the
    # request context's metadata and workflow were merged in
    assert thread.metadata == {"replies": 1, "team": "red", "workflow_id": "wf-srv"}

    fetched = await ok(server, request("threads.get_by_id", thread_id=thread_id), ctx)
    assert fetched["title"] == text[:20]
    assert [i["id"] for i in fetched["items"]["data"]] == [user["id"], reply["id"]]
    assert fetched["items"]["data"][1]["content"][0]["text"] == reply_text(text)


async def test_messages_append_in_order_and_every_reply_is_saved(
    server: ScriptedServer, storage: Storage, ctx: Any
) -> None:
    thread_id, _ = await create(server, ctx, "first")
    for text in ("second", "third"):
        answer = await say(server, ctx, thread_id, text)
        assert answer.events("thread.item.done")[0]["item"]["content"][0]["text"] == text
    assert texts(await stored_items(storage, thread_id, ctx)) == [
        "user_message:first", f"assistant_message:{reply_text('first')}",
        "user_message:second", f"assistant_message:{reply_text('second')}",
        "user_message:third", f"assistant_message:{reply_text('third')}",
    ]  # fmt: skip
    assert (await storage.chatkit.load_thread(thread_id, ctx)).metadata["replies"] == 3


async def test_hidden_context_is_stored_but_never_sent(
    server: ScriptedServer, storage: Storage, ctx: Any
) -> None:
    thread_id, answer = await create(server, ctx, f"{HIDDEN} remember this")
    assert [e["item"]["type"] for e in answer.events("thread.item.done")] == [
        "user_message",
        "assistant_message",
    ]
    items = await stored_items(storage, thread_id, ctx)
    assert isinstance(items[-1], HiddenContextItem)
    assert items[-1].content == {"note": "for the model only", "n": 1}
    listed = await ok(server, request("items.list", thread_id=thread_id, order="asc"), ctx)
    assert [i["id"] for i in listed["data"]] == [i.id for i in items[:2]]


async def test_replaced_and_removed_items(
    server: ScriptedServer, storage: Storage, ctx: Any
) -> None:
    thread_id, _ = await create(server, ctx, f"{REPLACE} me")
    await say(server, ctx, thread_id, "in between")
    items = await stored_items(storage, thread_id, ctx)
    # the replaced reply keeps its place (save_item on an existing item)
    assert texts(items) == [
        f"user_message:{REPLACE} me", "assistant_message:replaced",
        "user_message:in between", f"assistant_message:{reply_text('in between')}",
    ]  # fmt: skip
    answer = await say(server, ctx, thread_id, f"{REMOVE} it")
    removed = answer.events("thread.item.removed")[0]["item_id"]
    after = await stored_items(storage, thread_id, ctx)
    assert [i.id for i in after] == [i.id for i in items] + [after[-1].id]
    assert texts(after)[-1] == f"user_message:{REMOVE} it"
    with pytest.raises(ItemNotFoundError):
        await storage.chatkit.load_item(thread_id, removed, ctx)


async def test_client_tool_output_completes_the_pending_call(
    server: ScriptedServer, storage: Storage, ctx: Any
) -> None:
    thread_id, _ = await create(server, ctx, f"{TOOL} weather")
    pending = (await stored_items(storage, thread_id, ctx))[-1]
    assert isinstance(pending, ClientToolCallItem)
    assert (pending.status, pending.arguments) == ("pending", {"q": "weather", "n": [1, 2.5]})
    body = request("threads.add_client_tool_output", thread_id=thread_id, result={"temp": -63.5})
    answer = await call(server, body, ctx)
    assert answer.status == 200, repr(answer.error)
    items = await stored_items(storage, thread_id, ctx)
    done = items[1]
    assert isinstance(done, ClientToolCallItem)
    assert (done.id, done.status, done.output) == (pending.id, "completed", {"temp": -63.5})
    assert texts(items)[-1] == "assistant_message:tool output received"
    assert len(items) == 3


async def test_a_cancelled_stream_keeps_the_partial_reply(
    server: ScriptedServer, storage: Storage, ctx: Any
) -> None:
    thread_id, _ = await create(server, ctx, "hello")
    body = request("threads.add_user_message", thread_id=thread_id, input=user_input(HANG))
    result = await server.process(json.dumps(body), ctx)
    assert isinstance(result, StreamingResult)

    async def consume() -> None:
        async for _ in result:
            pass

    task = asyncio.create_task(consume())
    await asyncio.wait_for(server.hanging.wait(), timeout=30)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    items = await stored_items(storage, thread_id, ctx)
    # the server saved the partial reply (the first delta) and a marker for the model
    partial = reply_text(HANG)[: len(reply_text(HANG)) // 2]
    assert texts(items[2:4]) == [f"user_message:{HANG}", f"assistant_message:{partial}"]
    assert isinstance(items[4], SDKHiddenContextItem)
    assert len(items) == 5
    listed = await ok(server, request("items.list", thread_id=thread_id, order="asc"), ctx)
    assert [i["id"] for i in listed["data"]] == [i.id for i in items[:4]]


# --- retry -------------------------------------------------------------------------------------


async def test_retry_after_a_user_message_deletes_what_followed_and_replies_again(
    server: ScriptedServer, storage: Storage, ctx: Any
) -> None:
    thread_id, _ = await create(server, ctx, "keep this")
    # more items after the retried message than the server reads per page (20)
    await say(server, ctx, thread_id, f"{MANY} 23")
    before = await stored_items(storage, thread_id, ctx)
    retried, doomed = before[2], before[3:]
    assert len(doomed) == 23
    body = request("threads.retry_after_item", thread_id=thread_id, item_id=retried.id)
    answer = await call(server, body, ctx)
    assert answer.status == 200, repr(answer.error)
    after = await stored_items(storage, thread_id, ctx)
    assert [i.id for i in after[:3]] == [i.id for i in before[:3]]
    # the 23 replies are gone, and the retry's 23 new replies follow the retried message
    assert texts(after[3:]) == texts(doomed)
    assert not {i.id for i in after} & {i.id for i in doomed}
    for item in (doomed[0], doomed[-1]):
        with pytest.raises(ItemNotFoundError):
            await storage.chatkit.load_item(thread_id, item.id, ctx)


async def test_retry_after_a_reply_is_refused_and_deletes_nothing(
    server: ScriptedServer, storage: Storage, ctx: Any
) -> None:
    thread_id, _ = await create(server, ctx, "question")
    await say(server, ctx, thread_id, "follow-up")
    before = await stored_items(storage, thread_id, ctx)
    body = request("threads.retry_after_item", thread_id=thread_id, item_id=before[1].id)
    answer = await call(server, body, ctx)
    assert answer.status == 500  # the server refuses: not a user message
    assert "is not a user message" in str(answer.error)
    assert [i.id for i in await stored_items(storage, thread_id, ctx)] == [i.id for i in before]


# --- paging ------------------------------------------------------------------------------------


async def test_items_list_pages_both_orders(
    server: ScriptedServer, storage: Storage, ctx: Any
) -> None:
    thread_id, _ = await create(server, ctx, "one")
    for text in ("two", "three", f"{HIDDEN} four"):
        await say(server, ctx, thread_id, text)
    items = await stored_items(storage, thread_id, ctx)
    assert len(items) == 9
    visible = [i.id for i in items if not isinstance(i, HiddenContextItem)]
    for order, expected in (("asc", visible), ("desc", visible[::-1])):
        for limit in (1, 3, 50):
            found = await pages(
                server, "items.list", ctx, thread_id=thread_id, order=order, limit=limit
            )
            assert [i for page in found for i in page] == expected, (order, limit)
            assert all(len(page) <= limit for page in found)


async def test_threads_list_pages_both_orders_within_the_workflow(
    server: ScriptedServer, storage: Storage, ctx: Any, make_context: Context
) -> None:
    created: list[tuple[datetime, str]] = []
    for n in range(5):
        thread_id, answer = await create(server, ctx, f"thread {n}")
        stamp = answer.events("thread.created")[0]["thread"]["created_at"]
        created.append((datetime.fromisoformat(stamp), thread_id))
    other = make_context("wf-other")
    foreign, _ = await create(server, other, "elsewhere")
    expected = [thread_id for _, thread_id in sorted(created)]  # by (created_at, id)
    for order, want in (("asc", expected), ("desc", expected[::-1])):
        for limit in (1, 2, 5, 20):
            found = await pages(server, "threads.list", ctx, order=order, limit=limit)
            assert [t for page in found for t in page] == want, (order, limit)
    listed = await ok(server, request("threads.list", limit=10), other)
    assert [t["id"] for t in listed["data"]] == [foreign]
    first = await ok(server, request("threads.list", limit=2, order="asc"), ctx)
    assert [t["title"] for t in first["data"]] == ["thread 0", "thread 1"]


# --- updating and deleting ---------------------------------------------------------------------


async def test_rename_is_kept(server: ScriptedServer, storage: Storage, ctx: Any) -> None:
    thread_id, _ = await create(server, ctx, "untitled at first")
    renamed = await ok(server, request("threads.update", thread_id=thread_id, title="Mars"), ctx)
    assert renamed["title"] == "Mars"
    assert (await ok(server, request("threads.get_by_id", thread_id=thread_id), ctx))["title"] == (
        "Mars"
    )
    thread = await storage.chatkit.load_thread(thread_id, ctx)
    assert (thread.title, thread.metadata["replies"]) == ("Mars", 1)


async def test_thread_delete_removes_its_items_and_unlinks_its_attachments(
    server: ScriptedServer, storage: Storage, ctx: Any
) -> None:
    attachment = await ok(
        server, request("attachments.create", name="a.txt", size=3, mime_type="text/plain"), ctx
    )
    thread_id, _ = await create(server, ctx, "with a file", attachments=[attachment["id"]])
    kept_id, _ = await create(server, ctx, "another thread")
    items = await stored_items(storage, thread_id, ctx)
    assert await ok(server, request("threads.delete", thread_id=thread_id), ctx) == {}

    assert_not_found(
        await call(server, request("threads.get_by_id", thread_id=thread_id), ctx),
        ThreadNotFoundError,
    )
    with pytest.raises(ThreadNotFoundError):
        await storage.chatkit.load_thread_items(thread_id, None, 10, "asc", ctx)
    with pytest.raises((ThreadNotFoundError, ItemNotFoundError)):
        await storage.chatkit.load_item(thread_id, items[0].id, ctx)
    unlinked = await storage.chatkit.load_attachment(attachment["id"], ctx)
    assert unlinked.thread_id is None  # the file outlives the thread
    listed = await ok(server, request("threads.list", limit=10), ctx)
    assert [t["id"] for t in listed["data"]] == [kept_id]
    # deleting again is not an error
    assert await ok(server, request("threads.delete", thread_id=thread_id), ctx) == {}


async def test_attachment_create_use_and_delete(
    server: ScriptedServer, storage: Storage, ctx: Any, blobs: BlobStore
) -> None:
    created = await ok(
        server,
        request("attachments.create", name="plan.pdf", size=2048, mime_type="application/pdf"),
        ctx,
    )
    attachment_id = created["id"]
    assert (created["name"], created["mime_type"], created["type"]) == (
        "plan.pdf",
        "application/pdf",
        "file",
    )
    assert "metadata" not in created  # integration metadata is never sent to the client
    stored = await storage.chatkit.load_attachment(attachment_id, ctx)
    assert stored.metadata == {"size": 2048, "storage_path": f"/blobs/{attachment_id}"}
    assert stored.thread_id is None

    thread_id, answer = await create(server, ctx, "see attached", attachments=[attachment_id])
    user = answer.events("thread.item.done")[0]["item"]
    assert [a["id"] for a in user["attachments"]] == [attachment_id]
    linked = await storage.chatkit.load_attachment(attachment_id, ctx)
    assert linked.thread_id == thread_id
    assert linked.metadata == stored.metadata
    message = (await stored_items(storage, thread_id, ctx))[0]
    assert [a.id for a in message.attachments] == [attachment_id]

    assert await ok(server, request("attachments.delete", attachment_id=attachment_id), ctx) == {}
    assert blobs.deleted == [attachment_id]
    with pytest.raises(AttachmentNotFoundError):
        await storage.chatkit.load_attachment(attachment_id, ctx)
    again = await call(
        server,
        request(
            "threads.add_user_message", thread_id=thread_id, input=user_input("x", [attachment_id])
        ),
        ctx,
    )
    assert_not_found(again, AttachmentNotFoundError)
    assert len(await stored_items(storage, thread_id, ctx)) == 2  # nothing was added


# --- unknown ids -------------------------------------------------------------------------------

UNKNOWN = "thr_unknown00"
# (request, the storage error the store raises). THREAD is replaced by a real thread's id.
THREAD = "<thread>"
NOT_FOUND_REQUESTS: dict[str, tuple[dict[str, Any], type[NotFoundError]]] = {
    "get_by_id": (request("threads.get_by_id", thread_id=UNKNOWN), ThreadNotFoundError),
    "items.list": (request("items.list", thread_id=UNKNOWN), ThreadNotFoundError),
    "update": (request("threads.update", thread_id=UNKNOWN, title="t"), ThreadNotFoundError),
    "add_user_message": (
        request("threads.add_user_message", thread_id=UNKNOWN, input=user_input("hi")),
        ThreadNotFoundError,
    ),
    "retry_after_item": (
        request("threads.retry_after_item", thread_id=UNKNOWN, item_id="msg_unknown0"),
        ThreadNotFoundError,
    ),
    "add_client_tool_output": (
        request("threads.add_client_tool_output", thread_id=UNKNOWN, result={}),
        ThreadNotFoundError,
    ),
    "custom_action unknown thread": (
        request("threads.custom_action", thread_id=UNKNOWN, action={"type": "x", "payload": {}}),
        ThreadNotFoundError,
    ),
    "custom_action unknown item": (
        request(
            "threads.custom_action",
            thread_id=THREAD,
            item_id="msg_unknown0",
            action={"type": "x", "payload": {}},
        ),
        ItemNotFoundError,
    ),
    "create with unknown attachment": (
        request("threads.create", input=user_input("hi", ["atc_unknown0"])),
        AttachmentNotFoundError,
    ),
}


@pytest.mark.parametrize("case", list(NOT_FOUND_REQUESTS))
async def test_unknown_ids_are_answered_as_not_found(
    server: ScriptedServer, storage: Storage, ctx: Any, case: str
) -> None:
    thread_id, _ = await create(server, ctx, "an existing thread")
    before = await stored_items(storage, thread_id, ctx)
    body, error = NOT_FOUND_REQUESTS[case]
    params = {k: thread_id if v == THREAD else v for k, v in body["params"].items()}
    answer = await call(server, {**body, "params": params}, ctx)
    assert_not_found(answer, error)
    assert [i.id for i in await stored_items(storage, thread_id, ctx)] == [i.id for i in before]


async def test_another_workflows_thread_is_not_found(
    server: ScriptedServer, storage: Storage, ctx: Any, make_context: Context
) -> None:
    thread_id, _ = await create(server, ctx, "mine")
    stranger = make_context("wf-stranger")
    for body in (
        request("threads.get_by_id", thread_id=thread_id),
        request("items.list", thread_id=thread_id),
        request("threads.update", thread_id=thread_id, title="stolen"),
        request("threads.add_user_message", thread_id=thread_id, input=user_input("hi")),
    ):
        assert_not_found(await call(server, body, stranger), ThreadNotFoundError)
    assert await ok(server, request("threads.delete", thread_id=thread_id), stranger) == {}
    thread = await storage.chatkit.load_thread(thread_id, ctx)  # untouched
    assert thread.title == "mine"
    assert len(await stored_items(storage, thread_id, ctx)) == 2


async def test_deleting_unknown_ids_is_not_an_error(
    server: ScriptedServer, blobs: BlobStore, ctx: Any
) -> None:
    assert await ok(server, request("threads.delete", thread_id=UNKNOWN), ctx) == {}
    assert await ok(server, request("attachments.delete", attachment_id="atc_unknown0"), ctx) == {}
    assert blobs.deleted == ["atc_unknown0"]  # the server asked the blob store first


# --- the context today's Orcheo passes ---------------------------------------------------------


async def test_the_orcheo_request_context_with_the_parsed_request(
    server: ScriptedServer, storage: Storage
) -> None:
    from chatkit.types import ThreadsCreateReq

    body = request("threads.create", input=user_input("from the widget"))
    body["metadata"] = {"channel": "widget"}
    orcheo: Any = {  # typed for the ChatKitServer, which passes any context through
        "chatkit_request": ThreadsCreateReq.model_validate(body),
        "workflow_id": "5f0c6f0e-0000-4000-8000-000000000001",
        "actor": "chatkit",
        "auth_mode": "jwt",
        "subject": "user-1",
    }
    answer = await call(server, body, orcheo)
    assert answer.status == 200, repr(answer.error)
    thread_id = answer.events("thread.created")[0]["thread"]["id"]
    thread = await storage.chatkit.load_thread(thread_id, orcheo)
    assert thread.metadata == {
        "channel": "widget",
        "replies": 1,
        "workflow_id": "5f0c6f0e-0000-4000-8000-000000000001",
    }
    assert_not_found(
        await call(
            server,
            request("threads.get_by_id", thread_id=thread_id),
            {**orcheo, "workflow_id": "5f0c6f0e-0000-4000-8000-000000000002"},
        ),
        ThreadNotFoundError,
    )
