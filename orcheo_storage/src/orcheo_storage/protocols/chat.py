"""The ChatKit store contract: ``chatkit.store.Store[ChatContext]`` plus maintenance extras."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from orcheo_storage.boundary import JsonFilter
from orcheo_storage.models.chat import ChatContext, PruneResult

if TYPE_CHECKING:
    from chatkit.types import Attachment, Page, ThreadItem, ThreadMetadata


@runtime_checkable
class ChatStore(Protocol):
    """What a backend's ChatKit store offers. Concrete classes subclass ``chatkit.store.Store``.

    Every ``context`` may also be a plain mapping with the keys of :class:`ChatContext` (as
    today's Orcheo passes it): stores are decorated with
    :func:`orcheo_storage.rules.chat.accepts_mapping_context`. Unknown or out-of-scope ids
    raise ``ThreadNotFoundError``, ``ItemNotFoundError`` or ``AttachmentNotFoundError``
    from :mod:`orcheo_storage.errors`, which are also ``chatkit.store.NotFoundError``.
    """

    async def load_thread(self, thread_id: str, context: ChatContext) -> ThreadMetadata: ...

    async def save_thread(self, thread: ThreadMetadata, context: ChatContext) -> None: ...

    async def load_thread_items(
        self, thread_id: str, after: str | None, limit: int, order: str, context: ChatContext
    ) -> Page[ThreadItem]: ...

    async def save_attachment(self, attachment: Attachment, context: ChatContext) -> None: ...

    async def load_attachment(self, attachment_id: str, context: ChatContext) -> Attachment: ...

    async def delete_attachment(self, attachment_id: str, context: ChatContext) -> None: ...

    async def load_threads(
        self, limit: int, after: str | None, order: str, context: ChatContext
    ) -> Page[ThreadMetadata]: ...

    async def add_thread_item(
        self, thread_id: str, item: ThreadItem, context: ChatContext
    ) -> None: ...

    async def save_item(self, thread_id: str, item: ThreadItem, context: ChatContext) -> None: ...

    async def load_item(self, thread_id: str, item_id: str, context: ChatContext) -> ThreadItem: ...

    async def delete_thread(self, thread_id: str, context: ChatContext) -> None: ...

    async def delete_thread_item(
        self, thread_id: str, item_id: str, context: ChatContext
    ) -> None: ...

    async def prune_threads(self, *, older_than: datetime) -> PruneResult:
        """Delete threads not updated since ``older_than`` with their items and attachment rows."""
        ...

    async def filter_threads(
        self, metadata_contains: JsonFilter, context: ChatContext, *, limit: int = 50
    ) -> list[ThreadMetadata]:
        """Threads whose metadata contains ``metadata_contains``, newest first (created_at, id
        descending), at most ``limit``. Capability ``json_containment``."""
        ...

    async def search_items(
        self, thread_id: str, query: str, context: ChatContext, *, limit: int = 20
    ) -> list[ThreadItem]:
        """Capability ``full_text_search``."""
        ...
