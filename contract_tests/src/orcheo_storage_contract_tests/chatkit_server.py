"""A real ``chatkit.server.ChatKitServer`` over a backend's ChatKit store, for the suite's
ChatKit server section (``suite/test_chatkit_server.py``).

:class:`ScriptedServer` answers each user message by a script named in the message's text
(a streamed reply, hidden context, a client tool call, a replaced or removed item, many
items, or a reply that never ends so the stream can be cancelled). :func:`call` sends one
request the way an HTTP endpoint does (``server.process(body, context)``) and answers as
such an endpoint would: 200 with the JSON body or the streamed events, 404 when the store
raised ``chatkit.store.NotFoundError`` (the server's not-found path), 500 otherwise.
"""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# openai-chatkit warns about its own widget classes at import time (see chat_objects).
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from chatkit.server import ChatKitServer, StreamingResult
    from chatkit.store import AttachmentStore, NotFoundError, Store
    from chatkit.types import (
        AssistantMessageContent,
        AssistantMessageContentPartTextDelta,
        AssistantMessageItem,
        Attachment,
        AttachmentCreateParams,
        ClientToolCallItem,
        FileAttachment,
        HiddenContextItem,
        ThreadItemAddedEvent,
        ThreadItemDoneEvent,
        ThreadItemRemovedEvent,
        ThreadItemReplacedEvent,
        ThreadItemUpdatedEvent,
        ThreadMetadata,
        ThreadStreamEvent,
        UserMessageItem,
        UserMessageTextContent,
    )

# Scripts: the user message's text starts with one of these words.
HIDDEN = "hidden"  # a reply, then a hidden context item (stored, never sent to the client)
TOOL = "tool"  # a pending client tool call instead of a reply
REPLACE = "replace"  # a reply, then the same item replaced with new text
REMOVE = "remove"  # a reply, then that reply removed again
MANY = "many"  # "many 25": that many replies
HANG = "hang"  # a reply that starts streaming and never ends (for cancellation)


def reply_text(text: str) -> str:
    """What :class:`ScriptedServer` answers to a user message of ``text``."""
    return f"echo: {text}"


class BlobStore(AttachmentStore[Any]):
    """The attachment store the server needs for ``attachments.create``/``.delete``: it
    keeps no bytes, it records what it was asked and names a storage path per file."""

    def __init__(self) -> None:
        self.deleted: list[str] = []

    async def create_attachment(self, input: AttachmentCreateParams, context: Any) -> Attachment:
        attachment_id = self.generate_attachment_id(input.mime_type, context)
        return FileAttachment(
            id=attachment_id,
            name=input.name,
            mime_type=input.mime_type,
            metadata={"size": input.size, "storage_path": f"/blobs/{attachment_id}"},
        )

    async def delete_attachment(self, attachment_id: str, context: Any) -> None:
        self.deleted.append(attachment_id)


class ScriptedServer(ChatKitServer[Any]):
    """A ChatKit server whose replies follow the script named in the user's message.

    Every reply also counts itself in the thread's metadata (``replies``), so the server's
    own "thread changed while streaming" path saves the thread through the store.
    """

    def __init__(self, store: Store[Any], attachments: BlobStore | None = None) -> None:
        super().__init__(store, attachments or BlobStore())
        self.hanging = asyncio.Event()  # set when a HANG reply has streamed its first delta
        self._never = asyncio.Event()

    def _id(self, thread: ThreadMetadata, context: Any) -> str:
        return self.store.generate_item_id("message", thread, context)

    def _assistant(self, thread: ThreadMetadata, context: Any, text: str) -> AssistantMessageItem:
        return AssistantMessageItem(
            id=self._id(thread, context),
            thread_id=thread.id,
            created_at=datetime.now(),
            content=[AssistantMessageContent(text=text)],
        )

    async def _streamed(
        self, thread: ThreadMetadata, context: Any, text: str, *, hang: bool = False
    ) -> AsyncIterator[ThreadStreamEvent]:
        """An assistant message streamed in two deltas, as a model's reply is."""
        empty = self._assistant(thread, context, "")
        empty.content = []
        yield ThreadItemAddedEvent(item=empty)
        half = len(text) // 2
        for delta in (text[:half], text[half:]):
            yield ThreadItemUpdatedEvent(
                item_id=empty.id,
                update=AssistantMessageContentPartTextDelta(content_index=0, delta=delta),
            )
            if hang:
                self.hanging.set()
                await self._never.wait()
        done = empty.model_copy(update={"content": [AssistantMessageContent(text=text)]})
        yield ThreadItemDoneEvent(item=done)

    async def respond(
        self, thread: ThreadMetadata, input_user_message: UserMessageItem | None, context: Any
    ) -> AsyncIterator[ThreadStreamEvent]:
        thread.metadata["replies"] = int(thread.metadata.get("replies", 0)) + 1
        if input_user_message is None:  # after a client tool's output
            async for event in self._streamed(thread, context, "tool output received"):
                yield event
            return
        text = " ".join(
            part.text
            for part in input_user_message.content
            if isinstance(part, UserMessageTextContent)
        )
        word, _, rest = text.partition(" ")
        if word == TOOL:
            yield ThreadItemDoneEvent(
                item=ClientToolCallItem(
                    id=self.store.generate_item_id("tool_call", thread, context),
                    thread_id=thread.id,
                    created_at=datetime.now(),
                    call_id=f"call-{thread.id}",
                    name="lookup",
                    arguments={"q": rest, "n": [1, 2.5]},
                )
            )
            return
        if word == MANY:
            for n in range(int(rest)):
                yield ThreadItemDoneEvent(item=self._assistant(thread, context, f"part {n}"))
            return
        async for event in self._streamed(thread, context, reply_text(text), hang=word == HANG):
            yield event
            if isinstance(event, ThreadItemDoneEvent) and word == REPLACE:
                yield ThreadItemReplacedEvent(
                    item=event.item.model_copy(
                        update={"content": [AssistantMessageContent(text="replaced")]}
                    )
                )
            if isinstance(event, ThreadItemDoneEvent) and word == REMOVE:
                yield ThreadItemRemovedEvent(item_id=event.item.id)
        if word == HIDDEN:
            yield ThreadItemDoneEvent(
                item=HiddenContextItem(
                    id=self.store.generate_item_id("message", thread, context),
                    thread_id=thread.id,
                    created_at=datetime.now(),
                    content={"note": "for the model only", "n": 1},
                )
            )


# --- requests ----------------------------------------------------------------------------------


def user_input(text: str, attachments: list[str] | None = None) -> dict[str, Any]:
    """The ``input`` of a ``threads.create`` / ``threads.add_user_message`` request."""
    return {
        "content": [{"type": "input_text", "text": text}],
        "attachments": attachments or [],
        "inference_options": {},
    }


def request(kind: str, **params: Any) -> dict[str, Any]:
    """A ChatKit request of type ``kind`` (``threads.create``, ``items.list``, ...)."""
    return {"type": kind, "params": params}


@dataclass
class Answer:
    """What an HTTP endpoint in front of the server would answer."""

    status: int
    body: Any = None  # the JSON body, or the list of streamed events
    error: BaseException | None = field(default=None, repr=False)

    def events(self, kind: str) -> list[dict[str, Any]]:
        """The streamed events of one type."""
        return [e for e in self.body if e["type"] == kind]


async def _drain(result: StreamingResult) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    async for chunk in result:
        assert chunk.startswith(b"data: "), chunk
        assert chunk.endswith(b"\n\n"), chunk
        events.append(json.loads(chunk[len(b"data: ") :]))
    return events


async def call(
    server: ChatKitServer[Any],
    body: Mapping[str, Any],
    context: Any,
    *,
    consume: Callable[[StreamingResult], Awaitable[Any]] = _drain,
) -> Answer:
    """Send one request as an HTTP endpoint does and answer as it would (404 for
    ``chatkit.store.NotFoundError``, 500 for any other error)."""
    try:
        result = await server.process(json.dumps(body).encode(), context)
        if isinstance(result, StreamingResult):
            return Answer(200, await consume(result))
        return Answer(200, json.loads(result.json))
    except NotFoundError as exc:
        return Answer(404, {"error": "not found"}, exc)
    except Exception as exc:
        return Answer(500, {"error": "internal"}, exc)


async def ok(server: ChatKitServer[Any], body: Mapping[str, Any], context: Any) -> Any:
    """The body of a request that must succeed (200)."""
    answer = await call(server, body, context)
    assert answer.status == 200, f"{body['type']} answered {answer.status}: {answer.error!r}"
    return answer.body


async def pages(
    server: ChatKitServer[Any], kind: str, context: Any, **params: Any
) -> list[list[str]]:
    """Every page of ``threads.list`` / ``items.list``, following ``after``: the ids per page."""
    found: list[list[str]] = []
    after: str | None = None
    for _ in range(200):
        body = await ok(server, request(kind, after=after, **params), context)
        found.append([row["id"] for row in body["data"]])
        if not body["has_more"]:
            return found
        assert body["after"], f"{kind}: has_more without an after cursor"
        after = body["after"]
    raise AssertionError(f"{kind} pagination did not end")
