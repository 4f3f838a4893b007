"""The ChatKit store on PostgreSQL: a real ``chatkit.store.Store`` with JSONB and tsvector."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orcheo_storage.chatkit_types import (
    Attachment,
    Page,
    Store,
    ThreadItem,
    ThreadMetadata,
)
from orcheo_storage.clock import ensure_utc, utcnow
from orcheo_storage.errors import (
    AttachmentNotFoundError,
    DuplicateError,
    ItemNotFoundError,
    ThreadNotFoundError,
    ValidationError,
)
from orcheo_storage.jsoncodec import check_text, normalise_json, normalise_object
from orcheo_storage.models.chat import ChatContext, PruneResult
from orcheo_storage.rules import chat as rules
from orcheo_storage.rules.pagination import check_limit
from orcheo_storage.rules.threads import stored_thread
from pydantic import TypeAdapter

from orcheo_storage_postgres._db import Conn, Db, q_all, q_one
from orcheo_storage_postgres._errors import UniqueViolation
from orcheo_storage_postgres._rows import jsonb

_ITEM = TypeAdapter[ThreadItem](ThreadItem)
_ATTACHMENT = TypeAdapter[Attachment](Attachment)
_THREAD_FIELDS = set(ThreadMetadata.model_fields)

_THREAD_COLS = "id, title, created_at, status, allowed_image_domains, metadata, workflow_id"
_GET_THREAD = f"SELECT {_THREAD_COLS} FROM chat_threads WHERE id = %s"
_LOCK_THREAD = "SELECT workflow_id, title FROM chat_threads WHERE id = %s FOR UPDATE"
_UPSERT_THREAD = """
INSERT INTO chat_threads (id, title, created_at, updated_at, status, allowed_image_domains,
    metadata, workflow_id)
VALUES (%(id)s, coalesce(%(title)s, %(derived)s), %(created_at)s, %(now)s, %(status)s,
    %(domains)s, %(metadata)s, %(workflow_id)s)
ON CONFLICT (id) DO UPDATE SET
    title = coalesce(%(title)s, chat_threads.title, %(derived)s),
    updated_at = excluded.updated_at, status = excluded.status,
    allowed_image_domains = excluded.allowed_image_domains, metadata = excluded.metadata,
    workflow_id = excluded.workflow_id
"""
_USER_ITEMS = (
    "SELECT item FROM chat_items WHERE thread_id = %s AND item->>'type' = 'user_message' "
    "ORDER BY ordinal"
)
_SET_TITLE_IF_EMPTY = "UPDATE chat_threads SET title = %s WHERE id = %s AND title IS NULL"
_THREAD_PAGE = {
    (order, scoped): f"SELECT {_THREAD_COLS} FROM chat_threads WHERE TRUE"
    + (" AND workflow_id = %(wf)s" if scoped else "")
    + f" ORDER BY created_at {order}, id {order} LIMIT %(n)s"
    for order in ("asc", "desc")
    for scoped in (False, True)
}
# One statement per page: the cursor thread's position is a scalar subquery (an unknown
# cursor thread bounds nothing: the page starts at the beginning, as before), so the
# (created_at, id) bound stays an index condition.
_THREAD_PAGE_AFTER = {
    (order, scoped): f"SELECT {_THREAD_COLS} FROM chat_threads WHERE TRUE"
    + (" AND workflow_id = %(wf)s" if scoped else "")
    + f" AND (created_at, id) {'>' if order == 'asc' else '<'} (coalesce("
    + "(SELECT created_at FROM chat_threads WHERE id = %(after)s), "
    + f"'{'-' if order == 'asc' else ''}infinity'::timestamptz), %(after)s)"
    + f" ORDER BY created_at {order}, id {order} LIMIT %(n)s"
    for order in ("asc", "desc")
    for scoped in (False, True)
}
# Ordinal from the thread's counter in the same statement (row lock: unique and gapless).
_ADD_ITEM = """
WITH t AS (
    UPDATE chat_threads SET item_seq = item_seq + 1, updated_at = %(now)s
    WHERE id = %(thread_id)s RETURNING item_seq - 1 AS ordinal
)
INSERT INTO chat_items (thread_id, id, ordinal, created_at, item)
SELECT %(thread_id)s, %(id)s, t.ordinal, %(created_at)s, %(item)s FROM t
RETURNING ordinal
"""
# add_thread_item in one statement (one round trip, one transaction): the thread must
# exist and be visible (else no row comes back: ThreadNotFoundError), its counter gives
# the ordinal, its updated_at is bumped and its title set only while it has none. A
# duplicate item id fails the insert and rolls the whole statement back.
_ADD_ITEM_CHECKED = {
    scoped: """
WITH t AS (
    UPDATE chat_threads SET item_seq = item_seq + 1, updated_at = %(now)s,
        title = coalesce(title, %(title)s)
    WHERE id = %(thread_id)s"""
    + (" AND workflow_id = %(wf)s" if scoped else "")
    + """
    RETURNING item_seq - 1 AS ordinal
)
INSERT INTO chat_items (thread_id, id, ordinal, created_at, item)
SELECT %(thread_id)s, %(id)s, t.ordinal, %(created_at)s, %(item)s FROM t
RETURNING ordinal
"""
    for scoped in (False, True)
}
_UPDATE_ITEM = (
    "UPDATE chat_items SET item = %(item)s, created_at = %(created_at)s "
    "WHERE thread_id = %(thread_id)s AND id = %(id)s"
)
_TOUCH_THREAD = "UPDATE chat_threads SET updated_at = %s WHERE id = %s"
_GET_ITEM = "SELECT item FROM chat_items WHERE thread_id = %s AND id = %s"
_ITEM_ORDINAL = "SELECT ordinal FROM chat_items WHERE thread_id = %s AND id = %s"
_ITEM_PAGE = {
    (order, after): (
        "SELECT item FROM chat_items WHERE thread_id = %(thread_id)s"
        + (f" AND ordinal {'>' if order == 'asc' else '<'} %(after)s" if after else "")
        + f" ORDER BY ordinal {order} LIMIT %(n)s"
    )
    for order in ("asc", "desc")
    for after in (False, True)
}
_DELETE_ITEM = "DELETE FROM chat_items WHERE thread_id = %s AND id = %s"
_DELETE_THREAD = "DELETE FROM chat_threads WHERE id = %s"
# Unlinked, not deleted: the row and the stored attachment document both lose the thread.
_UNLINK_ATTACHMENTS = (
    "UPDATE chat_attachments SET thread_id = NULL, "
    "attachment = jsonb_set(attachment, '{thread_id}', 'null'::jsonb) WHERE thread_id = %s"
)
_UPSERT_ATTACHMENT = """
INSERT INTO chat_attachments (id, thread_id, storage_path, created_at, attachment)
VALUES (%(id)s, %(thread_id)s, %(path)s, %(now)s, %(attachment)s)
ON CONFLICT (id) DO UPDATE SET thread_id = excluded.thread_id,
    storage_path = excluded.storage_path, attachment = excluded.attachment
"""
_GET_ATTACHMENT = "SELECT thread_id, attachment FROM chat_attachments WHERE id = %s"
_DELETE_ATTACHMENT = "DELETE FROM chat_attachments WHERE id = %s"
_PRUNE = """
WITH gone AS (DELETE FROM chat_threads WHERE updated_at < %s RETURNING id),
files AS (
    DELETE FROM chat_attachments a USING gone WHERE a.thread_id = gone.id
    RETURNING a.storage_path
)
SELECT (SELECT count(*) FROM gone) AS threads,
    coalesce((SELECT array_agg(storage_path ORDER BY storage_path) FROM files
              WHERE storage_path IS NOT NULL), '{}') AS paths
"""
_FILTER = {
    scoped: f"SELECT {_THREAD_COLS} FROM chat_threads WHERE metadata @> %(doc)s"
    + (" AND workflow_id = %(wf)s" if scoped else "")
    + " ORDER BY created_at DESC, id DESC LIMIT %(n)s"  # newest first, as on every backend
    for scoped in (False, True)
}
_SEARCH = (
    "SELECT item FROM chat_items WHERE thread_id = %s "
    "AND search @@ websearch_to_tsquery('simple', %s) ORDER BY ordinal LIMIT %s"
)


def _thread(row: dict[str, Any]) -> ThreadMetadata:
    return stored_thread(
        thread_id=row["id"],
        title=row["title"],
        created_at=row["created_at"],
        status=row["status"],
        allowed_image_domains=row["allowed_image_domains"],
        metadata=row["metadata"],
    )


def _direction(order: str) -> str:
    if order not in ("asc", "desc"):
        raise ValidationError("order must be 'asc' or 'desc'", field="order")
    return order


def _item_doc(item: ThreadItem) -> Any:
    return normalise_json(item.model_dump(mode="json"), "item")


def _utc_item(item: ThreadItem) -> ThreadItem:
    """The item with its ``created_at`` in UTC (a naive one read as UTC), as it is stored."""
    return item.model_copy(update={"created_at": ensure_utc(item.created_at)})


@rules.accepts_mapping_context
class PostgresChatStore(Store[ChatContext]):
    """ChatKit threads, items and attachments on PostgreSQL."""

    def __init__(self, db: Db) -> None:
        self._db = db

    async def _visible_thread(
        self, conn: Conn, thread_id: str, context: ChatContext
    ) -> ThreadMetadata:
        row = await q_one(conn, _GET_THREAD, (thread_id,))
        if row is None or not rules.visible(row["workflow_id"], context):
            raise ThreadNotFoundError(thread_id)
        return _thread(row)

    async def load_thread(self, thread_id: str, context: ChatContext) -> ThreadMetadata:
        return await self._db.read(lambda conn: self._visible_thread(conn, thread_id, context))

    async def save_thread(self, thread: ThreadMetadata, context: ChatContext) -> None:
        # A created_at that is not a datetime (a model built without validation) is refused
        # as memory and SQLite refuse it, before pydantic's own error could escape.
        ensure_utc(thread.created_at, "created_at")
        # ChatKit may hand over a full Thread carrying its items: keep the metadata only.
        meta = ThreadMetadata.model_validate(thread.model_dump(include=_THREAD_FIELDS))
        # Hostile text anywhere (id, title, status, domains) is rejected before any write.
        normalise_json(meta.model_dump(mode="json", exclude={"metadata"}), "thread")
        merged = normalise_json(rules.merge_metadata(meta.metadata, context), "metadata")
        assert isinstance(merged, dict)
        async with self._db.transaction() as conn:
            existing = await q_one(conn, _LOCK_THREAD, (meta.id,))
            if existing is not None and not rules.visible(existing["workflow_id"], context):
                raise ThreadNotFoundError(meta.id)
            # Given title, else the stored one, else that of the first user message with text
            # (as adding the items one by one would have set it): only an untitled thread
            # that has items, i.e. imported ones, needs it.
            title = meta.title or None
            derived = None
            if title is None and existing is not None and existing["title"] is None:
                for row in await q_all(conn, _USER_ITEMS, (meta.id,)):
                    derived = rules.default_title(_ITEM.validate_python(row["item"]))
                    if derived is not None:
                        break
            await conn.execute(
                _UPSERT_THREAD,
                {
                    "id": meta.id,
                    "title": title,
                    "derived": derived,
                    "created_at": ensure_utc(meta.created_at),
                    "now": utcnow(),
                    "status": jsonb(meta.status.model_dump(mode="json")),
                    "domains": None
                    if meta.allowed_image_domains is None
                    else jsonb(meta.allowed_image_domains),
                    "metadata": jsonb(merged),
                    "workflow_id": rules.thread_workflow(merged),
                },
            )

    async def load_threads(
        self, limit: int, after: str | None, order: str, context: ChatContext
    ) -> Page[ThreadMetadata]:
        check_limit(limit)
        direction = _direction(order)
        params: dict[str, Any] = {"n": limit + 1, "wf": context.workflow_id, "after": after}
        scoped = context.workflow_id is not None
        pages = _THREAD_PAGE_AFTER if after else _THREAD_PAGE
        query = pages[(direction, scoped)]
        rows = await self._db.read_all(query, params)
        data = [_thread(r) for r in rows[:limit]]
        has_more = len(rows) > limit
        return Page(data=data, has_more=has_more, after=data[-1].id if has_more else None)

    async def load_thread_items(
        self, thread_id: str, after: str | None, limit: int, order: str, context: ChatContext
    ) -> Page[ThreadItem]:
        check_limit(limit)
        direction = _direction(order)
        params: dict[str, Any] = {"thread_id": thread_id, "n": limit + 1}

        async def page(conn: Conn) -> list[Any]:
            await self._visible_thread(conn, thread_id, context)
            cursor_row = await q_one(conn, _ITEM_ORDINAL, (thread_id, after)) if after else None
            if cursor_row is not None:
                params["after"] = cursor_row["ordinal"]
            return await q_all(conn, _ITEM_PAGE[(direction, cursor_row is not None)], params)

        rows = await self._db.read(page)
        data = [_ITEM.validate_python(r["item"]) for r in rows[:limit]]
        has_more = len(rows) > limit
        return Page(data=data, has_more=has_more, after=data[-1].id if has_more else None)

    async def add_thread_item(self, thread_id: str, item: ThreadItem, context: ChatContext) -> None:
        if item.thread_id != thread_id:
            raise ValidationError(
                f"item belongs to thread {item.thread_id!r}, not {thread_id!r}", field="thread_id"
            )
        item = _utc_item(item)
        doc = _item_doc(item)
        try:
            await self._add(thread_id, item, doc, context)
        except UniqueViolation:
            raise DuplicateError("chat item", item.id) from None

    async def _add(self, thread_id: str, item: ThreadItem, doc: Any, context: ChatContext) -> None:
        row = await self._db.one(
            _ADD_ITEM_CHECKED[context.workflow_id is not None],
            {
                "thread_id": thread_id,
                "wf": context.workflow_id,
                "id": item.id,
                "created_at": ensure_utc(item.created_at),
                "item": jsonb(doc),
                "now": utcnow(),
                "title": rules.default_title(item),
            },
        )
        if row is None:  # missing, or invisible in this context
            raise ThreadNotFoundError(thread_id)

    async def save_item(self, thread_id: str, item: ThreadItem, context: ChatContext) -> None:
        if item.thread_id != thread_id:
            raise ValidationError(
                f"item belongs to thread {item.thread_id!r}, not {thread_id!r}", field="thread_id"
            )
        item = _utc_item(item)
        params = {
            "thread_id": thread_id,
            "id": item.id,
            "created_at": ensure_utc(item.created_at),
            "item": jsonb(_item_doc(item)),
            "now": utcnow(),
        }
        try:
            await self._save(thread_id, item, params, context)
        except UniqueViolation:
            raise DuplicateError("chat item", item.id) from None

    async def _save(
        self, thread_id: str, item: ThreadItem, params: dict[str, Any], context: ChatContext
    ) -> None:
        async with self._db.transaction() as conn:
            await self._visible_thread(conn, thread_id, context)
            cur = await conn.execute(_UPDATE_ITEM, params)
            if cur.rowcount == 0:
                # New here (an id used by another thread fails the primary key: duplicate).
                await conn.execute(_ADD_ITEM, params)
            else:
                await conn.execute(_TOUCH_THREAD, (params["now"], thread_id))
            title = rules.default_title(item)
            if title is not None:
                await conn.execute(_SET_TITLE_IF_EMPTY, (title, thread_id))

    async def load_item(self, thread_id: str, item_id: str, context: ChatContext) -> ThreadItem:
        async def get(conn: Conn) -> Any:
            await self._visible_thread(conn, thread_id, context)
            return await q_one(conn, _GET_ITEM, (thread_id, item_id))

        row = await self._db.read(get)
        if row is None:
            raise ItemNotFoundError(item_id)
        return _ITEM.validate_python(row["item"])

    async def delete_thread(self, thread_id: str, context: ChatContext) -> None:
        """Idempotent: a missing (or invisible) thread is left alone."""
        async with self._db.transaction() as conn:
            row = await q_one(conn, _LOCK_THREAD, (thread_id,))
            if row is None or not rules.visible(row["workflow_id"], context):
                return
            await conn.execute(_UNLINK_ATTACHMENTS, (thread_id,))
            await conn.execute(_DELETE_THREAD, (thread_id,))

    async def delete_thread_item(self, thread_id: str, item_id: str, context: ChatContext) -> None:
        async with self._db.connection() as conn:
            await self._visible_thread(conn, thread_id, context)
            await conn.execute(_DELETE_ITEM, (thread_id, item_id))

    async def save_attachment(self, attachment: Attachment, context: ChatContext) -> None:
        doc = normalise_json(attachment.model_dump(mode="json"), "attachment")
        path = (attachment.metadata or {}).get("storage_path")
        await self._db.run(
            _UPSERT_ATTACHMENT,
            {
                "id": attachment.id,
                "thread_id": attachment.thread_id,
                "path": path if isinstance(path, str) else None,
                "now": utcnow(),
                "attachment": jsonb(doc),
            },
        )

    async def load_attachment(self, attachment_id: str, context: ChatContext) -> Attachment:
        row = await self._db.read_one(_GET_ATTACHMENT, (attachment_id,))
        if row is None:
            raise AttachmentNotFoundError(attachment_id)
        return _ATTACHMENT.validate_python(rules.bound_to(row["attachment"], row["thread_id"]))

    async def delete_attachment(self, attachment_id: str, context: ChatContext) -> None:
        await self._db.run(_DELETE_ATTACHMENT, (attachment_id,))

    async def prune_threads(self, *, older_than: datetime) -> PruneResult:
        row = await self._db.one(_PRUNE, (ensure_utc(older_than),))
        assert row is not None
        return PruneResult(threads_deleted=int(row["threads"]), storage_paths=list(row["paths"]))

    async def filter_threads(
        self, metadata_contains: dict[str, Any], context: ChatContext, *, limit: int = 50
    ) -> list[ThreadMetadata]:
        check_limit(limit)
        doc = normalise_object(metadata_contains, "metadata_contains")
        params = {"doc": jsonb(doc), "wf": context.workflow_id, "n": limit}
        rows = await self._db.read_all(_FILTER[context.workflow_id is not None], params)
        return [_thread(r) for r in rows]

    async def search_items(
        self, thread_id: str, query: str, context: ChatContext, *, limit: int = 20
    ) -> list[ThreadItem]:
        check_limit(limit)
        if not check_text(query, "query").strip():
            raise ValidationError("search query must not be blank", field="query")

        async def search(conn: Conn) -> list[Any]:
            await self._visible_thread(conn, thread_id, context)
            return await q_all(conn, _SEARCH, (thread_id, query, limit))

        rows = await self._db.read(search)
        return [_ITEM.validate_python(r["item"]) for r in rows]
