"""Stored ChatKit threads rebuilt without re-validation (needs ``openai-chatkit``).

A thread row was validated as a ``ThreadMetadata`` when it was saved, so paging (the hot
read of the chat stores) rebuilds it with :func:`orcheo_storage.trusted.assemble` instead
of running the model's validators again. The result equals what ``model_validate`` gives
for the same row, fields set included; a status document of a shape this module does not
know exactly is validated as usual.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, TypeAdapter

from orcheo_storage.chatkit_types import (
    ActiveStatus,
    ClosedStatus,
    LockedStatus,
    ThreadMetadata,
    ThreadStatus,
)
from orcheo_storage.trusted import assemble

_STATUS = TypeAdapter[ThreadStatus](ThreadStatus)
_STATUS_MODELS: dict[object, tuple[type[BaseModel], frozenset[str]]] = {
    model.model_fields["type"].default: (model, frozenset(model.model_fields))
    for model in (ActiveStatus, LockedStatus, ClosedStatus)
}


def thread_status(document: Any) -> ThreadStatus:
    """The status model of a stored status document (``{"type": "active"}``, ...)."""
    if type(document) is dict:
        known = _STATUS_MODELS.get(document.get("type"))
        # Only the exact stored shape (every field, plain values) skips validation.
        if known is not None and document.keys() == known[1]:
            reason = document.get("reason")
            if reason is None or type(reason) is str:
                status: ThreadStatus = assemble(known[0], dict(document))  # type: ignore[assignment]
                return status
    return _STATUS.validate_python(document)


def stored_thread(
    *,
    thread_id: str,
    title: str | None,
    created_at: datetime,
    status: Any,
    allowed_image_domains: list[str] | None,
    metadata: dict[str, Any],
) -> ThreadMetadata:
    """The ``ThreadMetadata`` of a stored row (JSON columns already decoded, fresh)."""
    return assemble(
        ThreadMetadata,
        {
            "title": title,
            "id": thread_id,
            "created_at": created_at,
            "status": thread_status(status),
            "allowed_image_domains": allowed_image_domains,
            "metadata": metadata,
        },
    )
