"""Logical-table rows of the ChatKit tables (needs the ``openai-chatkit`` package)."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from orcheo_storage.chatkit_types import Attachment, ThreadItem, ThreadMetadata
from orcheo_storage.errors import ValidationError
from orcheo_storage.jsoncodec import JsonObject, normalise_json
from orcheo_storage.memory._rows import TableSpec, column, stamp, time_col, to_row
from orcheo_storage.memory._state import AttachmentRow, ItemRow, MemoryState, ThreadRow
from orcheo_storage.rules import chat as chat_rules

_ITEM = TypeAdapter[ThreadItem](ThreadItem)
_ATTACHMENT = TypeAdapter[Attachment](Attachment)
_THREAD_FIELDS = ("id", "title", "created_at", "status", "allowed_image_domains", "metadata")


def _validate(adapter: TypeAdapter[Any], value: Any, field: str) -> Any:
    normalise_json(value, field)
    try:
        return adapter.validate_python(value)
    except PydanticValidationError as exc:
        raise ValidationError(
            f"invalid {field}: {exc.error_count()} error(s)", field=field
        ) from None


def _text_col(row: JsonObject, name: str, *, optional: bool = False) -> str | None:
    value = column(row, name)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"column {name!r} must be a string", field=name)
    return value


def _threads() -> TableSpec:
    def export(state: MemoryState) -> list[JsonObject]:
        return [
            to_row(
                state.threads[tid].thread,
                updated_at=stamp(state.threads[tid].updated_at),
                workflow_id=state.threads[tid].workflow_id,
            )
            for tid in sorted(state.threads)
        ]

    def parse(row: JsonObject) -> ThreadRow:
        thread = _validate(
            TypeAdapter(ThreadMetadata),
            {k: row.get(k) for k in _THREAD_FIELDS if k in row},
            "thread",
        )
        workflow_id = row.get("workflow_id", chat_rules.thread_workflow(thread.metadata))
        return ThreadRow(
            thread=thread,
            updated_at=time_col(row, "updated_at"),
            workflow_id=None if workflow_id is None else str(workflow_id),
        )

    def put(state: MemoryState, entry: ThreadRow) -> None:
        state.threads[entry.thread.id] = entry

    return TableSpec(export, parse, lambda e: e.thread.id, lambda s, k: k in s.threads, put)


def _items() -> TableSpec:
    def export(state: MemoryState) -> list[JsonObject]:
        rows: list[JsonObject] = [
            {
                "id": item_id,
                "thread_id": r.thread_id,
                "ordinal": r.ordinal,
                "created_at": stamp(r.item.created_at),
                "item": r.document if r.document is not None else to_row(r.item),
            }
            for item_id, r in state.items.items()
        ]
        return sorted(rows, key=lambda r: (r["thread_id"], r["ordinal"]))

    def parse(row: JsonObject) -> tuple[str, ItemRow]:
        ordinal = column(row, "ordinal")
        if not isinstance(ordinal, int) or isinstance(ordinal, bool) or ordinal < 0:
            raise ValidationError("ordinal must be a non-negative integer", field="ordinal")
        thread_id = _text_col(row, "thread_id")
        assert thread_id is not None
        document = column(row, "item")
        item = _validate(_ITEM, document, "item")
        if item.thread_id != thread_id:
            raise ValidationError("item.thread_id does not match thread_id", field="thread_id")
        kept = normalise_json(document, "item")
        assert isinstance(kept, dict)
        return item.id, ItemRow(thread_id=thread_id, ordinal=ordinal, item=item, document=kept)

    def put(state: MemoryState, entry: tuple[str, ItemRow]) -> None:
        state.put_item(entry[0], entry[1])

    return TableSpec(export, parse, lambda e: e[0], lambda s, k: k in s.items, put)


def _attachment_document(row: AttachmentRow) -> JsonObject:
    return row.document if row.document is not None else to_row(row.attachment)


def _attachments() -> TableSpec:
    def export(state: MemoryState) -> list[JsonObject]:
        return [
            {
                "id": att_id,
                "thread_id": state.attachments[att_id].thread_id,
                "storage_path": state.attachments[att_id].storage_path,
                "created_at": stamp(state.attachments[att_id].created_at),
                "attachment": _attachment_document(state.attachments[att_id]),
            }
            for att_id in sorted(state.attachments)
        ]

    def parse(row: JsonObject) -> AttachmentRow:
        document = column(row, "attachment")
        attachment = _validate(_ATTACHMENT, document, "attachment")
        kept = normalise_json(document, "attachment")
        assert isinstance(kept, dict)
        return AttachmentRow(
            attachment=attachment,
            document=kept,
            thread_id=_text_col(row, "thread_id", optional=True),
            storage_path=_text_col(row, "storage_path", optional=True),
            created_at=time_col(row, "created_at"),
        )

    def put(state: MemoryState, entry: AttachmentRow) -> None:
        state.attachments[entry.attachment.id] = entry

    return TableSpec(export, parse, lambda e: e.attachment.id, lambda s, k: k in s.attachments, put)


CHAT_TABLES: dict[str, TableSpec] = {
    "chat_threads": _threads(),
    "chat_items": _items(),
    "chat_attachments": _attachments(),
}
