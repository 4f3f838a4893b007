"""ChatKit store rules: the request context, default titles, metadata merge and scoping."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar
from uuid import UUID

from orcheo_storage.errors import ValidationError
from orcheo_storage.models.chat import ChatContext
from orcheo_storage.models.common import build

TITLE_LENGTH = 20
S = TypeVar("S", bound=type)


def request_context(context: object) -> ChatContext:
    """The :class:`ChatContext` of a store call, from what the ChatKit server passed.

    A ``ChatContext`` is used as it is. A mapping (today's Orcheo passes a plain ``dict``)
    is read by the same keys: ``workflow_id`` (a string or UUID, or absent) and
    ``metadata`` (a JSON object); when ``metadata`` is absent, the ``metadata`` of a
    ``chatkit_request`` entry (the parsed ChatKit request, as Orcheo passes it) is used.
    Other keys (``actor``, ``auth_mode``, ...) are not the store's business and are ignored.

    Raises:
        ValidationError: anything else, or a key holding a value of the wrong kind.
    """
    if isinstance(context, ChatContext):
        return context
    if not isinstance(context, Mapping):
        raise ValidationError(
            f"must be a ChatContext or a mapping, not {type(context).__name__}", field="context"
        )
    workflow_id = context.get("workflow_id")
    if isinstance(workflow_id, UUID):
        workflow_id = str(workflow_id)
    metadata = context.get("metadata")
    if metadata is None:
        metadata = getattr(context.get("chatkit_request"), "metadata", None) or {}
    return build(ChatContext, workflow_id=workflow_id, metadata=metadata)


def accepts_mapping_context(cls: S) -> S:
    """Class decorator of a ChatKit store: its public ``async`` methods that take a
    ``context`` receive it as a :class:`ChatContext`, converted by :func:`request_context`
    from whatever the caller passed (a mapping included), positionally or by keyword.

    Every ChatKit store of this project is decorated; a third-party backend's store
    should be too, so that it accepts what Orcheo's ChatKit server passes.
    """
    for name, member in list(vars(cls).items()):
        if name.startswith("_") or not inspect.iscoroutinefunction(member):
            continue
        parameters = list(inspect.signature(member).parameters)
        if "context" in parameters:
            setattr(cls, name, _converting(member, parameters.index("context")))
    return cls


def _converting(
    method: Callable[..., Awaitable[Any]], position: int
) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(method)
    async def call(*args: Any, **kwargs: Any) -> Any:
        if "context" in kwargs:
            kwargs["context"] = request_context(kwargs["context"])
        elif len(args) > position:
            args = (*args[:position], request_context(args[position]), *args[position + 1 :])
        return await method(*args, **kwargs)

    return call


def default_title(item: Any) -> str | None:
    """First 20 characters of a user message's text, or ``None`` for other items."""
    if getattr(item, "type", None) != "user_message":
        return None
    texts = [getattr(part, "text", "") for part in getattr(item, "content", [])]
    text = " ".join(t for t in texts if t).strip()
    return text[:TITLE_LENGTH] or None


def merge_metadata(stored: dict[str, Any], context: ChatContext) -> dict[str, Any]:
    """Thread metadata with the request context's metadata merged in (context keys win)."""
    merged = {**stored, **context.metadata}
    if context.workflow_id is not None and "workflow_id" not in merged:
        merged["workflow_id"] = context.workflow_id
    return merged


def thread_workflow(metadata: dict[str, Any]) -> str | None:
    value = metadata.get("workflow_id")
    return str(value) if value is not None else None


def visible(thread_workflow_id: str | None, context: ChatContext) -> bool:
    """A thread is visible when the context names no workflow or names its workflow."""
    return context.workflow_id is None or thread_workflow_id == context.workflow_id


def bound_to(document: dict[str, Any], thread_id: str | None) -> dict[str, Any]:
    """An attachment document as loaded: its thread is the stored row's.

    The row's ``thread_id`` is authoritative (it is what unlinking clears and what
    today's Orcheo keeps: its attachment documents carry no thread at all).
    """
    return {**document, "thread_id": thread_id}
