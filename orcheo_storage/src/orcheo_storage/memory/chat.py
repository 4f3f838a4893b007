"""In-memory ChatKit store: threads, items (with ordinals) and attachment metadata."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from orcheo_storage.chatkit_types import Attachment, Page, Store, ThreadItem, ThreadMetadata
from orcheo_storage.clock import ensure_utc, utcnow
from orcheo_storage.errors import (
    AttachmentNotFoundError,
    DuplicateError,
    ItemNotFoundError,
    ThreadNotFoundError,
    ValidationError,
)
from orcheo_storage.jsoncodec import check_text, normalise_json, normalise_object
from orcheo_storage.memory._lifecycle import refuses_when_closed
from orcheo_storage.memory._state import AttachmentRow, ItemRow, MemoryState, ThreadRow, copy
from orcheo_storage.models.chat import ChatContext, PruneResult
from orcheo_storage.rules import chat as chat_rules
from orcheo_storage.rules.agentensor import json_contains
from orcheo_storage.rules.pagination import check_limit

T = TypeVar("T")


def _order(order: str) -> bool:
    """``True`` for descending. Raises ``ValidationError`` for anything but asc/desc."""
    if order not in ("asc", "desc"):
        raise ValidationError("order must be 'asc' or 'desc'", field="order")
    return order == "desc"


def _page(rows: Sequence[T], ident: Callable[[T], str], after: str | None, limit: int) -> Page[T]:
    """Keyset page over already-ordered ``rows``; an unknown ``after`` is ignored."""
    check_limit(limit)
    start = 0
    if after is not None:
        for position, row in enumerate(rows):
            if ident(row) == after:
                start = position + 1
                break
    window = list(rows[start : start + limit + 1])
    has_more = len(window) > limit
    data = window[:limit]
    return Page(data=data, has_more=has_more, after=ident(data[-1]) if has_more and data else None)


def _check_model(model: Any, field: str) -> None:
    """Reject hostile strings and non-finite numbers anywhere in a ChatKit model."""
    normalise_json(model.model_dump(mode="json"), field)


def _texts(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["text"]] if isinstance(value.get("text"), str) else []
        return found + [t for k, v in value.items() if k != "text" for t in _texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    return []


@refuses_when_closed
@chat_rules.accepts_mapping_context
class MemoryChatStore(Store[ChatContext]):
    """A ChatKit ``Store`` (plus the :class:`~orcheo_storage.protocols.chat.ChatStore`
    extras) over a session's state. Loads are scoped to the context's workflow."""

    def __init__(self, state: MemoryState) -> None:
        self._state = state

    # --- helpers -------------------------------------------------------------------------------

    def _thread(self, thread_id: str, context: ChatContext) -> ThreadRow:
        row = self._state.threads.get(thread_id)
        if row is None or not chat_rules.visible(row.workflow_id, context):
            raise ThreadNotFoundError(thread_id)
        return row

    def _items_of(self, thread_id: str) -> list[tuple[str, ItemRow]]:
        return self._state.thread_items(thread_id)

    def _next_ordinal(self, thread_id: str) -> int:
        ids = self._state.items_by_thread.get(thread_id, ())
        return max((self._state.items[i].ordinal for i in ids), default=-1) + 1

    def _first_user_title(self, thread_id: str) -> str | None:
        for _, row in self._items_of(thread_id):
            title = chat_rules.default_title(row.item)
            if title:
                return title
        return None

    def _touch(self, row: ThreadRow, item: ThreadItem, now: datetime) -> None:
        row.updated_at = now
        if not row.thread.title:
            title = chat_rules.default_title(item)
            if title:
                row.thread = row.thread.model_copy(update={"title": title})

    @staticmethod
    def _clean_item(thread_id: str, item: ThreadItem) -> ThreadItem:
        if item.thread_id != thread_id:
            raise ValidationError(
                f"item belongs to thread {item.thread_id!r}, not {thread_id!r}", field="thread_id"
            )
        _check_model(item, "item")
        stamp = ensure_utc(item.created_at, "created_at")
        return item.model_copy(update={"created_at": stamp}, deep=True)

    # --- threads -------------------------------------------------------------------------------

    async def load_thread(self, thread_id: str, context: ChatContext) -> ThreadMetadata:
        return copy(self._thread(thread_id, context).thread)

    async def save_thread(self, thread: ThreadMetadata, context: ChatContext) -> None:
        # The server may hand over a full ``Thread``; only its metadata fields are kept.
        fields = {name: getattr(thread, name) for name in ThreadMetadata.model_fields}
        check_text(thread.id, "id")
        metadata = chat_rules.merge_metadata(normalise_object(thread.metadata, "metadata"), context)
        fields.update(metadata=metadata, created_at=ensure_utc(thread.created_at, "created_at"))
        candidate = copy(ThreadMetadata.model_validate(fields))
        _check_model(candidate, "thread")
        now = utcnow()
        existing = self._state.threads.get(thread.id)
        if existing is not None:
            if not chat_rules.visible(existing.workflow_id, context):
                raise ThreadNotFoundError(thread.id)
            candidate = candidate.model_copy(
                update={
                    "created_at": existing.thread.created_at,
                    "title": candidate.title or existing.thread.title,
                }
            )
        if not candidate.title:
            candidate = candidate.model_copy(update={"title": self._first_user_title(thread.id)})
        self._state.threads[thread.id] = ThreadRow(
            thread=candidate, updated_at=now, workflow_id=chat_rules.thread_workflow(metadata)
        )

    async def load_threads(
        self, limit: int, after: str | None, order: str, context: ChatContext
    ) -> Page[ThreadMetadata]:
        descending = _order(order)
        rows = [
            r.thread
            for r in self._state.threads.values()
            if chat_rules.visible(r.workflow_id, context)
        ]
        rows.sort(key=lambda t: (t.created_at, t.id), reverse=descending)
        page = _page(rows, lambda t: t.id, after, limit)
        page.data = [copy(t) for t in page.data]
        return page

    async def delete_thread(self, thread_id: str, context: ChatContext) -> None:
        row = self._state.threads.get(thread_id)
        if row is None or not chat_rules.visible(row.workflow_id, context):
            return
        self._remove_threads({thread_id}, unlink=True)

    def _remove_threads(self, thread_ids: set[str], *, unlink: bool) -> list[str]:
        """Delete threads and their items; unlink (or delete) their attachment rows.

        Returns:
            The storage paths of deleted attachment rows.
        """
        for thread_id in thread_ids:
            del self._state.threads[thread_id]
        for thread_id in thread_ids:
            for item_id in list(self._state.items_by_thread.pop(thread_id, ())):
                self._state.drop_item(item_id)
        paths: list[str] = []
        for att_id, att in list(self._state.attachments.items()):
            if att.thread_id not in thread_ids:
                continue
            if unlink:
                att.thread_id = None
                att.attachment = att.attachment.model_copy(update={"thread_id": None})
                if att.document is not None and "thread_id" in att.document:
                    att.document = {**att.document, "thread_id": None}
            else:
                del self._state.attachments[att_id]
                if att.storage_path:
                    paths.append(att.storage_path)
        return sorted(paths)

    async def prune_threads(self, *, older_than: datetime) -> PruneResult:
        cutoff = ensure_utc(older_than, "older_than")
        doomed = {tid for tid, r in self._state.threads.items() if r.updated_at < cutoff}
        paths = self._remove_threads(doomed, unlink=False)
        return PruneResult(threads_deleted=len(doomed), storage_paths=paths)

    async def filter_threads(
        self, metadata_contains: dict[str, Any], context: ChatContext, *, limit: int = 50
    ) -> list[ThreadMetadata]:
        check_limit(limit)
        fragment = normalise_object(metadata_contains, "metadata_contains")
        rows = [
            r.thread
            for r in self._state.threads.values()
            if chat_rules.visible(r.workflow_id, context)
            and json_contains(r.thread.metadata, fragment)
        ]
        rows.sort(key=lambda t: (t.created_at, t.id), reverse=True)
        return [copy(t) for t in rows[:limit]]

    # --- items ---------------------------------------------------------------------------------

    async def load_thread_items(
        self, thread_id: str, after: str | None, limit: int, order: str, context: ChatContext
    ) -> Page[ThreadItem]:
        descending = _order(order)
        self._thread(thread_id, context)
        rows = self._items_of(thread_id)
        if descending:
            rows.reverse()
        page = _page([r.item for _, r in rows], lambda i: i.id, after, limit)
        page.data = [copy(i) for i in page.data]
        return page

    async def add_thread_item(self, thread_id: str, item: ThreadItem, context: ChatContext) -> None:
        clean = self._clean_item(thread_id, item)
        row = self._thread(thread_id, context)
        if clean.id in self._state.items:
            raise DuplicateError("chat item", clean.id)
        ordinal = self._next_ordinal(thread_id)
        self._state.put_item(clean.id, ItemRow(thread_id=thread_id, ordinal=ordinal, item=clean))
        self._touch(row, clean, utcnow())

    async def save_item(self, thread_id: str, item: ThreadItem, context: ChatContext) -> None:
        clean = self._clean_item(thread_id, item)
        row = self._thread(thread_id, context)
        existing = self._state.items.get(clean.id)
        if existing is not None and existing.thread_id != thread_id:
            raise DuplicateError("chat item", clean.id)
        if existing is not None:
            existing.item = clean
            existing.document = None  # the saved item replaces what an import gave
        else:
            ordinal = self._next_ordinal(thread_id)
            self._state.put_item(
                clean.id, ItemRow(thread_id=thread_id, ordinal=ordinal, item=clean)
            )
        self._touch(row, clean, utcnow())

    async def load_item(self, thread_id: str, item_id: str, context: ChatContext) -> ThreadItem:
        self._thread(thread_id, context)
        row = self._state.items.get(item_id)
        if row is None or row.thread_id != thread_id:
            raise ItemNotFoundError(item_id)
        return copy(row.item)

    async def delete_thread_item(self, thread_id: str, item_id: str, context: ChatContext) -> None:
        self._thread(thread_id, context)
        row = self._state.items.get(item_id)
        if row is not None and row.thread_id == thread_id:
            self._state.drop_item(item_id)

    async def search_items(
        self, thread_id: str, query: str, context: ChatContext, *, limit: int = 20
    ) -> list[ThreadItem]:
        check_limit(limit)
        needle = check_text(query, "query").strip().casefold()
        if not needle:
            raise ValidationError("search query must not be blank", field="query")
        self._thread(thread_id, context)
        found = [
            r.item
            for _, r in self._items_of(thread_id)
            if any(needle in t.casefold() for t in _texts(r.item.model_dump(mode="json")))
        ]
        return [copy(i) for i in found[:limit]]

    # --- attachments ---------------------------------------------------------------------------

    async def save_attachment(self, attachment: Attachment, context: ChatContext) -> None:
        _check_model(attachment, "attachment")
        clean = copy(attachment)
        path = (clean.metadata or {}).get("storage_path")
        existing = self._state.attachments.get(clean.id)
        self._state.attachments[clean.id] = AttachmentRow(
            attachment=clean,
            thread_id=clean.thread_id,
            storage_path=path if isinstance(path, str) else None,
            created_at=existing.created_at if existing is not None else utcnow(),
        )

    async def load_attachment(self, attachment_id: str, context: ChatContext) -> Attachment:
        row = self._state.attachments.get(attachment_id)
        if row is None:
            raise AttachmentNotFoundError(attachment_id)
        if row.attachment.thread_id == row.thread_id:
            return copy(row.attachment)
        return row.attachment.model_copy(update={"thread_id": row.thread_id}, deep=True)

    async def delete_attachment(self, attachment_id: str, context: ChatContext) -> None:
        self._state.attachments.pop(attachment_id, None)
