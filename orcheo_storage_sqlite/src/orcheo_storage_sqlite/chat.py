"""The SQLite ChatKit store: a real ``chatkit.store.Store[ChatContext]``.

Threads keep only their metadata (a full ``Thread`` handed over by the server is cut
down to ``ThreadMetadata``); items are stored as JSON with a per-thread ordinal
allocated under the write lock; attachments keep metadata and a storage path only.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from orcheo_storage.chatkit_types import Attachment, Page, Store, ThreadItem, ThreadMetadata
from orcheo_storage.clock import ensure_utc, utcnow
from orcheo_storage.errors import (
    AttachmentNotFoundError,
    DuplicateError,
    ItemNotFoundError,
    ThreadNotFoundError,
    ValidationError,
)
from orcheo_storage.jsoncodec import (
    JsonObject,
    check_text,
    dumps,
    loads,
    normalise_json,
    normalise_object,
)
from orcheo_storage.models.chat import ChatContext, PruneResult
from orcheo_storage.rules import chat as chat_rules
from orcheo_storage.rules.agentensor import json_contains
from orcheo_storage.rules.pagination import check_limit
from orcheo_storage.rules.threads import stored_thread
from pydantic import TypeAdapter

from orcheo_storage_sqlite import chat_sql as q
from orcheo_storage_sqlite.codec import fast_dumps, from_ts, jdump, jdump_opt, jload, ts
from orcheo_storage_sqlite.engine import Database

ITEM = TypeAdapter[ThreadItem](ThreadItem)
ATTACHMENT = TypeAdapter[Attachment](Attachment)


def _order(order: str) -> bool:
    """``True`` for descending. Raises ``ValidationError`` for anything but asc/desc."""
    if order not in ("asc", "desc"):
        raise ValidationError("order must be 'asc' or 'desc'", field="order")
    return order == "desc"


def _checked(model: Any, field: str) -> JsonObject:
    """The model's JSON document, with hostile strings and non-finite numbers rejected."""
    doc = normalise_json(model.model_dump(mode="json"), field)
    assert isinstance(doc, dict)
    return doc


def _texts(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["text"]] if isinstance(value.get("text"), str) else []
        return found + [t for k, v in value.items() if k != "text" for t in _texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    return []


def search_text(doc: Any) -> str:
    """The casefolded text of an item document that :meth:`SqliteChatStore.search_items` scans."""
    return " ".join(_texts(doc)).casefold()


def _thread(row: tuple[Any, ...]) -> ThreadMetadata:
    return stored_thread(
        thread_id=row[0],
        title=row[1],
        created_at=from_ts(row[2]),
        status=jload(row[3]),
        allowed_image_domains=jload(row[4]),
        metadata=jload(row[5]),
    )


def _visible_thread(
    conn: sqlite3.Connection, thread_id: str, context: ChatContext
) -> tuple[Any, ...]:
    row = conn.execute(q.THREAD, (thread_id,)).fetchone()
    if row is None or not chat_rules.visible(row[6], context):
        raise ThreadNotFoundError(thread_id)
    return tuple(row)


def _item(text: str) -> ThreadItem:
    return ITEM.validate_python(loads(text))


@chat_rules.accepts_mapping_context
class SqliteChatStore(Store[ChatContext]):
    """A ChatKit ``Store`` (plus the :class:`~orcheo_storage.protocols.chat.ChatStore`
    extras) on the chat file. Loads are scoped to the context's workflow."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # --- helpers -------------------------------------------------------------------------------

    @staticmethod
    def _clean_item(thread_id: str, item: ThreadItem) -> tuple[ThreadItem, str, str, str | None]:
        if item.thread_id != thread_id:
            raise ValidationError(
                f"item belongs to thread {item.thread_id!r}, not {thread_id!r}", field="thread_id"
            )
        stamp = ensure_utc(item.created_at, "created_at")
        clean = item.model_copy(update={"created_at": stamp}, deep=True)
        doc = _checked(clean, "item")
        search = search_text(doc)
        return clean, fast_dumps(doc), search, chat_rules.default_title(clean)

    @staticmethod
    def _touch(conn: sqlite3.Connection, thread_id: str, title: str | None) -> None:
        conn.execute(q.TOUCH, (ts(utcnow()), title, thread_id))

    # --- threads -------------------------------------------------------------------------------

    async def load_thread(self, thread_id: str, context: ChatContext) -> ThreadMetadata:
        row = await self._db.read(lambda conn: _visible_thread(conn, thread_id, context))
        return _thread(row)

    async def save_thread(self, thread: ThreadMetadata, context: ChatContext) -> None:
        # The server may hand over a full ``Thread``; only its metadata fields are kept.
        fields = {name: getattr(thread, name) for name in ThreadMetadata.model_fields}
        check_text(thread.id, "id")
        metadata = chat_rules.merge_metadata(normalise_object(thread.metadata, "metadata"), context)
        fields.update(metadata=metadata, created_at=ensure_utc(thread.created_at, "created_at"))
        candidate = ThreadMetadata.model_validate(fields)
        doc = _checked(candidate, "thread")
        workflow_id = chat_rules.thread_workflow(metadata)

        def job(conn: sqlite3.Connection) -> None:
            now = ts(utcnow())
            existing = conn.execute(q.THREAD, (candidate.id,)).fetchone()
            title = candidate.title
            created = ts(candidate.created_at)
            if existing is not None:
                if not chat_rules.visible(existing[6], context):
                    raise ThreadNotFoundError(candidate.id)
                created = existing[2]
                title = title or existing[1]
            if not title:
                title = self._first_user_title(conn, candidate.id)
            conn.execute(
                q.UPSERT_THREAD,
                (
                    candidate.id,
                    title,
                    created,
                    now,
                    jdump(doc["status"]),
                    jdump_opt(doc.get("allowed_image_domains")),
                    dumps(metadata),
                    workflow_id,
                ),
            )

        await self._db.write(job)

    @staticmethod
    def _first_user_title(conn: sqlite3.Connection, thread_id: str) -> str | None:
        for (text,) in conn.execute(q.ITEMS_ASC, (thread_id,)):
            title = chat_rules.default_title(_item(text))
            if title:
                return title
        return None

    async def load_threads(
        self, limit: int, after: str | None, order: str, context: ChatContext
    ) -> Page[ThreadMetadata]:
        descending = _order(order)
        check_limit(limit)
        scope = context.workflow_id

        def job(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            anchor = None
            if after is not None:
                found = conn.execute(q.THREAD, (after,)).fetchone()
                if found is not None and chat_rules.visible(found[6], context):
                    anchor = (found[2], found[0])
            sql = q.threads_page(
                descending=descending, scoped=scope is not None, anchored=anchor is not None
            )
            args: list[Any] = [] if scope is None else [scope]
            if anchor is not None:
                args.extend(anchor)
            args.append(limit + 1)
            return conn.execute(sql, args).fetchall()

        rows = await self._db.read(job, snapshot=True)
        threads = [_thread(r) for r in rows[:limit]]
        has_more = len(rows) > limit
        return Page(data=threads, has_more=has_more, after=threads[-1].id if has_more else None)

    async def delete_thread(self, thread_id: str, context: ChatContext) -> None:
        def job(conn: sqlite3.Connection) -> None:
            row = conn.execute(q.THREAD, (thread_id,)).fetchone()
            if row is None or not chat_rules.visible(row[6], context):
                return
            conn.execute(q.DELETE_ITEMS, (thread_id,))
            conn.execute(q.UNLINK_ATTACHMENTS, (thread_id,))
            conn.execute(q.DELETE_THREAD, (thread_id,))

        await self._db.write(job)

    async def prune_threads(self, *, older_than: datetime) -> PruneResult:
        cutoff = ts(ensure_utc(older_than, "older_than"))

        def job(conn: sqlite3.Connection) -> PruneResult:
            doomed = [r[0] for r in conn.execute(q.STALE_THREADS, (cutoff,)).fetchall()]
            paths: list[str] = []
            for thread_id in doomed:
                paths.extend(
                    r[0] for r in conn.execute(q.ATTACHMENT_PATHS, (thread_id,)).fetchall() if r[0]
                )
                conn.execute(q.DELETE_ATTACHMENTS, (thread_id,))
                conn.execute(q.DELETE_ITEMS, (thread_id,))
                conn.execute(q.DELETE_THREAD, (thread_id,))
            return PruneResult(threads_deleted=len(doomed), storage_paths=sorted(paths))

        return await self._db.write(job)

    async def filter_threads(
        self, metadata_contains: dict[str, Any], context: ChatContext, *, limit: int = 50
    ) -> list[ThreadMetadata]:
        check_limit(limit)
        fragment = normalise_object(metadata_contains, "metadata_contains")
        scope = context.workflow_id

        def job(conn: sqlite3.Connection) -> list[ThreadMetadata]:
            sql = q.threads_page(
                descending=True, scoped=scope is not None, anchored=False, limited=False
            )
            found: list[ThreadMetadata] = []
            for row in conn.execute(sql, [] if scope is None else [scope]):
                if json_contains(jload(row[5]), fragment):
                    found.append(_thread(row))
                    if len(found) >= limit:
                        break
            return found

        return await self._db.read(job, snapshot=True)

    # --- items ---------------------------------------------------------------------------------

    async def load_thread_items(
        self, thread_id: str, after: str | None, limit: int, order: str, context: ChatContext
    ) -> Page[ThreadItem]:
        descending = _order(order)
        check_limit(limit)

        def job(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            _visible_thread(conn, thread_id, context)
            anchor = None
            if after is not None:
                found = conn.execute(q.ITEM_ORDINAL, (thread_id, after)).fetchone()
                if found is not None:
                    anchor = found[0]
            sql = q.items_page(descending=descending, anchored=anchor is not None)
            args: list[Any] = [thread_id]
            if anchor is not None:
                args.append(anchor)
            args.append(limit + 1)
            return conn.execute(sql, args).fetchall()

        rows = await self._db.read(job, snapshot=True)
        items = [_item(r[1]) for r in rows[:limit]]
        has_more = len(rows) > limit
        return Page(data=items, has_more=has_more, after=items[-1].id if has_more else None)

    async def add_thread_item(self, thread_id: str, item: ThreadItem, context: ChatContext) -> None:
        clean, text, search, title = self._clean_item(thread_id, item)

        def job(conn: sqlite3.Connection) -> None:
            _visible_thread(conn, thread_id, context)
            if conn.execute(q.ITEM_EXISTS, (clean.id,)).fetchone() is not None:
                raise DuplicateError("chat item", clean.id)
            # Allocated under the write lock; PRIMARY KEY (thread_id, ordinal) backs it up.
            ordinal = conn.execute(q.NEXT_ORDINAL, (thread_id,)).fetchone()[0]
            conn.execute(
                q.INSERT_ITEM, (clean.id, thread_id, ordinal, ts(clean.created_at), text, search)
            )
            self._touch(conn, thread_id, title)

        await self._db.write(job)

    async def save_item(self, thread_id: str, item: ThreadItem, context: ChatContext) -> None:
        clean, text, search, title = self._clean_item(thread_id, item)

        def job(conn: sqlite3.Connection) -> None:
            _visible_thread(conn, thread_id, context)
            existing = conn.execute(q.ITEM_THREAD, (clean.id,)).fetchone()
            if existing is not None and existing[0] != thread_id:
                raise DuplicateError("chat item", clean.id)
            if existing is not None:
                conn.execute(q.UPDATE_ITEM, (ts(clean.created_at), text, search, clean.id))
            else:
                ordinal = conn.execute(q.NEXT_ORDINAL, (thread_id,)).fetchone()[0]
                conn.execute(
                    q.INSERT_ITEM,
                    (clean.id, thread_id, ordinal, ts(clean.created_at), text, search),
                )
            self._touch(conn, thread_id, title)

        await self._db.write(job)

    async def load_item(self, thread_id: str, item_id: str, context: ChatContext) -> ThreadItem:
        def job(conn: sqlite3.Connection) -> str:
            _visible_thread(conn, thread_id, context)
            row = conn.execute(q.ITEM, (thread_id, item_id)).fetchone()
            if row is None:
                raise ItemNotFoundError(item_id)
            return str(row[0])

        return _item(await self._db.read(job, snapshot=True))

    async def delete_thread_item(self, thread_id: str, item_id: str, context: ChatContext) -> None:
        def job(conn: sqlite3.Connection) -> None:
            _visible_thread(conn, thread_id, context)
            conn.execute(q.DELETE_ITEM, (thread_id, item_id))

        await self._db.write(job)

    async def search_items(
        self, thread_id: str, query: str, context: ChatContext, *, limit: int = 20
    ) -> list[ThreadItem]:
        check_limit(limit)
        needle = check_text(query, "query").strip().casefold()
        if not needle:
            raise ValidationError("search query must not be blank", field="query")

        def job(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            _visible_thread(conn, thread_id, context)
            return conn.execute(q.SEARCH, (thread_id, needle, limit)).fetchall()

        rows = await self._db.read(job, snapshot=True)
        return [_item(r[0]) for r in rows]

    # --- attachments ---------------------------------------------------------------------------

    async def save_attachment(self, attachment: Attachment, context: ChatContext) -> None:
        doc = _checked(attachment, "attachment")
        path = (attachment.metadata or {}).get("storage_path")
        params = (
            attachment.id,
            attachment.thread_id,
            path if isinstance(path, str) else None,
            ts(utcnow()),
            fast_dumps(doc),
        )
        await self._db.write(lambda conn: conn.execute(q.UPSERT_ATTACHMENT, params))

    async def load_attachment(self, attachment_id: str, context: ChatContext) -> Attachment:
        row = await self._db.read(
            lambda conn: conn.execute(q.ATTACHMENT, (attachment_id,)).fetchone()
        )
        if row is None:
            raise AttachmentNotFoundError(attachment_id)
        doc = loads(row[1])
        assert isinstance(doc, dict)
        return ATTACHMENT.validate_python(chat_rules.bound_to(doc, row[0]))

    async def delete_attachment(self, attachment_id: str, context: ChatContext) -> None:
        await self._db.write(lambda conn: conn.execute(q.DELETE_ATTACHMENT, (attachment_id,)))
