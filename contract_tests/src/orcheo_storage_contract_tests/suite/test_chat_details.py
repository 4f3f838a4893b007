"""Contract: details of the ChatKit store (DOMAIN.md section 7) that the machines miss.

Found by mutation testing (``MUTATION.md``): the exact error a caller sees (the order, the
offending value's path, the colliding item, the thread another workflow owns), the cursor
of a last page, item times stored as UTC, saving a snapshot of the caller's object, the
default title set by ``save_item`` and by a save of a thread whose items were imported,
attachments keeping their first ``created_at`` and only a text ``storage_path``, and rows
read back through the bulk-export backdoor after an edit.
"""

from __future__ import annotations

import uuid
import warnings
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from chatkit.types import (
    ClientToolCallItem,
    ClosedStatus,
    InferenceOptions,
    LockedStatus,
    UserMessageItem,
    UserMessageTextContent,
)
from orcheo_storage.clock import ManualClock, use_clock
from orcheo_storage.errors import DuplicateError, ThreadNotFoundError, ValidationError
from orcheo_storage.jsoncodec import JsonObject
from orcheo_storage.protocols.backend import BulkTransfer, Subsystem
from orcheo_storage.storage import Storage

from orcheo_storage_contract_tests._support import assert_utc, raises
from orcheo_storage_contract_tests.chat_objects import (
    CHAT_CONTEXT,
    CHAT_T0,
    CHAT_WF1,
    CHAT_WF2,
    assistant_message,
    chat_thread,
    file_attachment,
    user_message,
)

CTX = CHAT_CONTEXT
WF1 = CHAT_WF1
WF2 = CHAT_WF2

pytestmark = pytest.mark.orcheo_subsystem("chatkit")


def _bulk(storage: Storage) -> BulkTransfer:
    return storage.session_for(Subsystem.CHATKIT).bulk()


async def _export(storage: Storage, table: str) -> list[JsonObject]:
    return [row async for batch in _bulk(storage).export_rows(table) for row in batch]


def _instant(value: Any) -> datetime:
    """An exported timestamp (an ISO string or a datetime) as an aware datetime."""
    stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


# --- errors a caller sees -------------------------------------------------------------------------


async def test_an_order_other_than_asc_or_desc_is_refused_by_name(storage: Storage) -> None:
    """``order`` is "asc" or "desc", exactly: anything else is a validation error naming it."""
    chat = storage.chatkit
    await chat.save_thread(chat_thread("thr-o"), CTX)
    message = "order: order must be 'asc' or 'desc'"
    for order in ("sideways", "ASC", ""):
        with raises(ValidationError, message):
            await chat.load_threads(5, None, order, CTX)
        with raises(ValidationError, message):
            await chat.load_thread_items("thr-o", None, 5, order, CTX)


async def test_hostile_documents_are_refused_naming_the_offending_value(
    storage: Storage,
) -> None:
    """A NUL anywhere in a thread, an item or an attachment is a validation error whose field
    is the path of the offending value, and nothing is written."""
    chat = storage.chatkit
    await chat.save_thread(chat_thread("thr-h"), CTX)
    bad = user_message("it-bad", "thr-h", "a\x00b")
    for write in (chat.add_thread_item, chat.save_item):
        with pytest.raises(ValidationError) as info:
            await write("thr-h", bad, CTX)
        assert info.value.field == "item.content[0].text"
    with pytest.raises(ValidationError) as info:
        await chat.save_thread(chat_thread("thr-t", title="x\x00"), CTX)
    assert info.value.field == "thread.title"
    with pytest.raises(ValidationError) as info:
        await chat.save_thread(chat_thread("thr-m", metadata={"a": {"b": "x\x00"}}), CTX)
    assert info.value.field == "metadata.a.b"
    with pytest.raises(ValidationError) as info:
        await chat.save_thread(chat_thread("thr-\x00"), CTX)
    # memory and SQLite check the id on its own, PostgreSQL within the thread document
    assert info.value.field in ("id", "thread.id")
    attachment = file_attachment("att-h").model_copy(update={"name": "n\x00.txt"})
    with pytest.raises(ValidationError) as info:
        await chat.save_attachment(attachment, CTX)
    assert info.value.field == "attachment.name"
    assert (await chat.load_thread_items("thr-h", None, 10, "asc", CTX)).data == []
    assert [t.id for t in (await chat.load_threads(10, None, "asc", CTX)).data] == ["thr-h"]
    assert await _export(storage, "chat_attachments") == []


async def test_a_thread_of_another_workflow_cannot_be_saved_over(storage: Storage) -> None:
    """Saving a thread that exists in another workflow is "not found" naming the thread, and
    changes nothing."""
    chat = storage.chatkit
    await chat.save_thread(chat_thread("thr-w", title="mine", metadata={"k": 1}), WF1)
    with raises(ThreadNotFoundError, "chat thread not found: thr-w"):
        await chat.save_thread(chat_thread("thr-w", title="theirs"), WF2)
    loaded = await chat.load_thread("thr-w", WF1)
    assert loaded.title == "mine"
    assert loaded.metadata == {"k": 1, "workflow_id": "wf-1"}


async def test_a_duplicate_item_id_is_named(storage: Storage) -> None:
    """Item ids are unique across threads; adding one again names it, in its own thread or in
    another one."""
    chat = storage.chatkit
    for thread_id in ("thr-1", "thr-2"):
        await chat.save_thread(chat_thread(thread_id), CTX)
    await chat.add_thread_item("thr-1", user_message("it-1", "thr-1", "first"), CTX)
    for thread_id in ("thr-1", "thr-2"):
        with raises(DuplicateError, "chat item already exists: it-1"):
            await chat.add_thread_item(thread_id, user_message("it-1", thread_id, "x"), CTX)
    loaded = await chat.load_item("thr-1", "it-1", CTX)
    assert isinstance(loaded, UserMessageItem)
    assert loaded.content[0].text == "first"


async def test_a_created_at_that_is_not_a_datetime_is_refused(storage: Storage) -> None:
    """A thread or item built without validation whose ``created_at`` is not a datetime is
    a validation error (for a thread naming ``created_at``), and nothing is written."""
    chat = storage.chatkit
    await chat.save_thread(chat_thread("thr-c"), CTX)
    thread = chat_thread("thr-bad")
    thread.created_at = "yesterday"  # type: ignore[assignment]
    item = user_message("it-bad", "thr-c", "hello")
    item.created_at = "yesterday"  # type: ignore[assignment]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydantic warns when it dumps the wrong type
        with raises(ValidationError, "created_at: must be a datetime"):
            await chat.save_thread(thread, CTX)
        for write in (chat.add_thread_item, chat.save_item):
            with pytest.raises(ValidationError, match=r"must be a datetime$") as info:
                await write("thr-c", item, CTX)
            # memory and SQLite name the field, PostgreSQL does not
            assert info.value.field in ("created_at", None)
    assert [t.id for t in (await chat.load_threads(10, None, "asc", CTX)).data] == ["thr-c"]
    assert (await chat.load_thread_items("thr-c", None, 10, "asc", CTX)).data == []


@pytest.mark.orcheo_capability("json_containment")
async def test_a_metadata_filter_that_is_not_an_object_is_refused(storage: Storage) -> None:
    """``filter_threads`` takes a JSON object: another JSON value is a validation error
    naming ``metadata_contains``, not an empty answer."""
    chat = storage.chatkit
    await chat.save_thread(chat_thread("thr-f", metadata={"a": [1]}), CTX)
    for fragment in ([1], [], "a", 5):
        with raises(ValidationError, "metadata_contains: must be a JSON object"):
            await chat.filter_threads(fragment, CTX)  # type: ignore[arg-type]
    assert [t.id for t in await chat.filter_threads({"a": [1]}, CTX)] == ["thr-f"]


# --- pages ----------------------------------------------------------------------------------------


async def test_the_last_page_carries_no_cursor(storage: Storage) -> None:
    """``after`` is the cursor of the next page: ``None`` on a page with nothing after it,
    whether the page is full or not."""
    chat = storage.chatkit
    for n in range(3):
        stamp = CHAT_T0 + timedelta(seconds=n)
        await chat.save_thread(chat_thread(f"thr-{n}", created_at=stamp), CTX)
        await chat.add_thread_item("thr-0", user_message(f"it-{n}", "thr-0", "m"), CTX)
    for order in ("asc", "desc"):
        for limit in (3, 5):
            threads = await chat.load_threads(limit, None, order, CTX)
            assert (len(threads.data), threads.has_more, threads.after) == (3, False, None)
            items = await chat.load_thread_items("thr-0", None, limit, order, CTX)
            assert (len(items.data), items.has_more, items.after) == (3, False, None)
        first = await chat.load_threads(2, None, order, CTX)
        assert first.has_more is True
        assert first.after == first.data[-1].id
        rest = await chat.load_threads(2, first.after, order, CTX)
        assert (len(rest.data), rest.has_more, rest.after) == (1, False, None)
        first_items = await chat.load_thread_items("thr-0", None, 2, order, CTX)
        assert first_items.after == first_items.data[-1].id
        rest_items = await chat.load_thread_items("thr-0", first_items.after, 2, order, CTX)
        assert (len(rest_items.data), rest_items.has_more, rest_items.after) == (1, False, None)


# --- values ---------------------------------------------------------------------------------------


async def test_item_times_are_stored_as_utc(storage: Storage) -> None:
    """An item's ``created_at`` comes back as the same instant in UTC: a naive one is read as
    UTC, one with another offset is converted (DOMAIN.md section 0, time)."""
    chat = storage.chatkit
    await chat.save_thread(chat_thread("thr-z"), CTX)
    naive = datetime(2024, 5, 6, 7, 8, 9, 123456)
    plus_two = datetime(2024, 5, 6, 9, 8, 9, 654321, tzinfo=timezone(timedelta(hours=2)))
    await chat.add_thread_item("thr-z", user_message("z-1", "thr-z", "a", created_at=naive), CTX)
    await chat.add_thread_item("thr-z", user_message("z-2", "thr-z", "b", created_at=plus_two), CTX)
    await chat.save_item("thr-z", user_message("z-3", "thr-z", "c", created_at=plus_two), CTX)
    expected = {"z-1": naive.replace(tzinfo=UTC), "z-2": plus_two, "z-3": plus_two}
    for item_id, instant in expected.items():
        loaded = await chat.load_item("thr-z", item_id, CTX)
        assert assert_utc(loaded.created_at) == instant
    await chat.save_item("thr-z", user_message("z-2", "thr-z", "b2", created_at=naive), CTX)
    assert assert_utc((await chat.load_item("thr-z", "z-2", CTX)).created_at) == expected["z-1"]
    page = await chat.load_thread_items("thr-z", None, 10, "asc", CTX)
    for item in page.data:
        assert_utc(item.created_at)


async def test_thread_status_and_image_domains_round_trip(storage: Storage) -> None:
    """A thread's ``status`` and ``allowed_image_domains`` come back as saved, on a load and
    in a page, and an upsert replaces them."""
    chat = storage.chatkit
    locked = chat_thread("thr-l").model_copy(
        update={"status": LockedStatus(reason="read only"), "allowed_image_domains": ["a.test"]}
    )
    closed = chat_thread("thr-c", created_at=CHAT_T0 + timedelta(seconds=1)).model_copy(
        update={"status": ClosedStatus(reason="done"), "allowed_image_domains": []}
    )
    for thread in (locked, closed):
        await chat.save_thread(thread, CTX)
    for thread in (locked, closed):
        loaded = await chat.load_thread(thread.id, CTX)
        assert (loaded.status, loaded.allowed_image_domains) == (
            thread.status,
            thread.allowed_image_domains,
        )
    page = await chat.load_threads(10, None, "asc", CTX)
    assert [(t.status, t.allowed_image_domains) for t in page.data] == [
        (LockedStatus(reason="read only"), ["a.test"]),
        (ClosedStatus(reason="done"), []),
    ]
    await chat.save_thread(chat_thread("thr-l"), CTX)
    reopened = await chat.load_thread("thr-l", CTX)
    assert (reopened.status, reopened.allowed_image_domains) == (chat_thread("x").status, None)


async def test_saving_stores_a_snapshot_of_the_callers_object(storage: Storage) -> None:
    """Changing an object after handing it to the store changes nothing stored: items added
    or saved, threads and attachments."""
    chat = storage.chatkit
    thread = chat_thread("thr-s", metadata={"list": [1]})
    await chat.save_thread(thread, CTX)
    thread.metadata["list"].append(2)
    added = user_message("s-1", "thr-s", "added")
    await chat.add_thread_item("thr-s", added, CTX)
    added.content[0].text = "changed"
    resaved = user_message("s-1", "thr-s", "resaved")
    await chat.save_item("thr-s", resaved, CTX)
    resaved.content[0].text = "changed"
    fresh = user_message("s-2", "thr-s", "fresh")
    await chat.save_item("thr-s", fresh, CTX)
    fresh.content[0].text = "changed"
    attachment = file_attachment("att-s", thread_id="thr-s")
    await chat.save_attachment(attachment, CTX)
    assert attachment.metadata is not None
    attachment.metadata["origin"] = "changed"
    assert (await chat.load_thread("thr-s", CTX)).metadata == {"list": [1]}
    assert await chat.load_item("thr-s", "s-1", CTX) == user_message("s-1", "thr-s", "resaved")
    assert await chat.load_item("thr-s", "s-2", CTX) == user_message("s-2", "thr-s", "fresh")
    loaded = await chat.load_attachment("att-s", CTX)
    assert loaded == file_attachment("att-s", thread_id="thr-s")


async def test_save_item_sets_the_default_title(storage: Storage) -> None:
    """``save_item`` touches its thread like ``add_thread_item``: an untitled thread takes its
    title from a user message saved into it, new or replacing another item."""
    chat = storage.chatkit
    await chat.save_thread(chat_thread("thr-new"), CTX)
    await chat.save_item("thr-new", user_message("n-1", "thr-new", "Saved question here"), CTX)
    assert (await chat.load_thread("thr-new", CTX)).title == "Saved question here"
    await chat.save_thread(chat_thread("thr-old"), CTX)
    await chat.add_thread_item("thr-old", assistant_message("o-1", "thr-old", "Hello!"), CTX)
    assert (await chat.load_thread("thr-old", CTX)).title is None
    await chat.save_item(
        "thr-old", user_message("o-1", "thr-old", "Now a user message, long enough"), CTX
    )
    assert (await chat.load_thread("thr-old", CTX)).title == "Now a user message, "


# --- attachments ----------------------------------------------------------------------------------


async def test_an_attachment_keeps_its_first_created_at(storage: Storage) -> None:
    """An attachment's upsert keeps the row's ``created_at`` (read through bulk export)."""
    chat = storage.chatkit
    clock = ManualClock(datetime(2031, 4, 5, 6, 7, 8, 901234, tzinfo=UTC))
    with use_clock(clock):
        first = clock.now()
        await chat.save_attachment(file_attachment("att-c"), CTX)
        clock.advance(timedelta(minutes=5))
        await chat.save_attachment(file_attachment("att-c", storage_path="/b/c"), CTX)
        await chat.save_attachment(file_attachment("att-d"), CTX)
    rows = {r["id"]: r for r in await _export(storage, "chat_attachments")}
    assert _instant(rows["att-c"]["created_at"]) == first
    assert rows["att-c"]["storage_path"] == "/b/c"
    assert _instant(rows["att-d"]["created_at"]) == clock.now()


async def test_a_storage_path_that_is_not_text_is_not_kept(storage: Storage) -> None:
    """Only a string ``storage_path`` in an attachment's metadata is its storage path: prune
    reports none for another value (the metadata itself is kept as given)."""
    chat = storage.chatkit
    await chat.save_thread(chat_thread("thr-p"), CTX)
    odd = file_attachment("att-odd", thread_id="thr-p").model_copy(
        update={"metadata": {"storage_path": 42}}
    )
    await chat.save_attachment(odd, CTX)
    await chat.save_attachment(
        file_attachment("att-txt", thread_id="thr-p", storage_path="/b/txt"), CTX
    )
    assert (await chat.load_attachment("att-odd", CTX)).metadata == {"storage_path": 42}
    rows = {r["id"]: r for r in await _export(storage, "chat_attachments")}
    assert rows["att-odd"]["storage_path"] is None
    result = await chat.prune_threads(older_than=datetime.now(UTC) + timedelta(days=1))
    assert result.threads_deleted == 1
    assert result.storage_paths == ["/b/txt"]


# --- rows that came through bulk import -----------------------------------------------------------


def _batch() -> str:
    return f"chat-details-{uuid.uuid4().hex}"


async def test_saving_an_untitled_imported_thread_titles_it_from_its_first_user_message(
    storage: Storage,
) -> None:
    """A thread imported without a title, with imported items, takes the first user
    message's text (first 20 characters, in ordinal order) when it is saved untitled."""
    bulk = _bulk(storage)
    thread_row: JsonObject = {
        "id": "thr-imp",
        "title": None,
        "created_at": CHAT_T0.isoformat(),
        "updated_at": CHAT_T0.isoformat(),
        "status": {"type": "active"},
        "allowed_image_domains": None,
        "metadata": {},
        "workflow_id": None,
    }
    assert await bulk.import_batch("chat_threads", [thread_row], batch_id=_batch())
    items = [
        assistant_message("imp-0", "thr-imp", "Welcome, how can I help?"),
        user_message("imp-1", "thr-imp", "   "),
        user_message("imp-2", "thr-imp", "The first real question, imported"),
        user_message("imp-3", "thr-imp", "A later question"),
    ]
    rows: list[JsonObject] = [
        {
            "id": item.id,
            "thread_id": "thr-imp",
            "ordinal": n,
            "created_at": CHAT_T0.isoformat(),
            "item": item.model_dump(mode="json"),
        }
        for n, item in enumerate(items)
    ]
    assert await bulk.import_batch("chat_items", rows, batch_id=_batch())
    chat = storage.chatkit
    assert (await chat.load_thread("thr-imp", CTX)).title is None
    await chat.save_thread(chat_thread("thr-imp"), CTX)
    assert (await chat.load_thread("thr-imp", CTX)).title == "The first real quest"


async def test_an_imported_attachment_is_loaded_as_a_copy(storage: Storage) -> None:
    """An attachment whose document does not name the row's thread is loaded bound to the
    row's thread, and as a copy: mutating it changes nothing stored."""
    chat = storage.chatkit
    await chat.save_thread(chat_thread("thr-ia"), CTX)
    document: JsonObject = {
        "id": "att-ia",
        "type": "file",
        "name": "old.txt",
        "mime_type": "text/plain",
        "metadata": {"origin": "import", "tags": ["a"]},
    }
    row: JsonObject = {
        "id": "att-ia",
        "thread_id": "thr-ia",
        "storage_path": None,
        "created_at": CHAT_T0.isoformat(),
        "attachment": document,
    }
    assert await _bulk(storage).import_batch("chat_attachments", [row], batch_id=_batch())
    loaded = await chat.load_attachment("att-ia", CTX)
    assert loaded.thread_id == "thr-ia"
    assert loaded.metadata is not None
    loaded.metadata["origin"] = "mutated"
    loaded.metadata["tags"].append("b")
    again = await chat.load_attachment("att-ia", CTX)
    assert again.metadata == {"origin": "import", "tags": ["a"]}
    assert again.thread_id == "thr-ia"


async def test_an_edited_item_is_exported_as_saved(storage: Storage) -> None:
    """Bulk export gives an item's current document: after ``save_item`` the saved one, also
    for an item that came through an import."""
    chat = storage.chatkit
    await chat.save_thread(chat_thread("thr-e"), CTX)
    await chat.add_thread_item("thr-e", user_message("e-1", "thr-e", "before"), CTX)
    imported = user_message("e-2", "thr-e", "imported")
    row: JsonObject = {
        "id": "e-2",
        "thread_id": "thr-e",
        "ordinal": 1,
        "created_at": CHAT_T0.isoformat(),
        "item": imported.model_dump(mode="json"),
    }
    assert await _bulk(storage).import_batch("chat_items", [row], batch_id=_batch())
    for item_id in ("e-1", "e-2"):
        await chat.save_item("thr-e", user_message(item_id, "thr-e", f"after {item_id}"), CTX)
    exported = {r["id"]: r for r in await _export(storage, "chat_items")}
    for item_id in ("e-1", "e-2"):
        document: Any = exported[item_id]["item"]
        assert isinstance(document, dict)
        assert document["content"][0]["text"] == f"after {item_id}"


# --- search ---------------------------------------------------------------------------------------


@pytest.mark.orcheo_capability("full_text_search")
async def test_search_reads_the_item_as_stored_json(storage: Storage) -> None:
    """Search looks at an item's JSON: a text part given as another value that is stored
    as text (bytes in a tool call's arguments) is found by that text."""
    chat = storage.chatkit
    await chat.save_thread(chat_thread("thr-q"), CTX)
    call = ClientToolCallItem(
        id="q-1",
        thread_id="thr-q",
        created_at=CHAT_T0,
        status="completed",
        call_id="call-1",
        name="lookup",
        arguments={"text": b"giraffe"},
    )
    await chat.add_thread_item("thr-q", call, CTX)
    await chat.add_thread_item("thr-q", user_message("q-2", "thr-q", "an elephant"), CTX)
    assert [i.id for i in await chat.search_items("thr-q", "giraffe", CTX)] == ["q-1"]


@pytest.mark.orcheo_capability("full_text_search")
async def test_search_finds_nothing_that_is_in_no_text_part(storage: Storage) -> None:
    """An item with several text parts is not found by a query that occurs in none of them
    (however the parts are joined for searching)."""
    chat = storage.chatkit
    await chat.save_thread(chat_thread("thr-n"), CTX)
    item = UserMessageItem(
        id="n-1",
        thread_id="thr-n",
        created_at=CHAT_T0,
        content=[UserMessageTextContent(text="alpha"), UserMessageTextContent(text="beta")],
        inference_options=InferenceOptions(),
    )
    await chat.add_thread_item("thr-n", item, CTX)
    assert [i.id for i in await chat.search_items("thr-n", "beta", CTX)] == ["n-1"]
    for query in ("xx", "x", "gamma"):
        assert await chat.search_items("thr-n", query, CTX) == [], query
