"""The request context a ChatKit store receives, and stored-thread bookkeeping."""

from __future__ import annotations

from pydantic import Field

from orcheo_storage.models.common import JsonDict, StorageModel, Text


class ChatContext(StorageModel):
    """Passed by the ChatKit server to every store call.

    Attributes:
        workflow_id: loading is scoped to threads of this workflow when set.
        metadata: merged into a saved thread's metadata (these keys win).
    """

    workflow_id: Text | None = None
    metadata: JsonDict = Field(default_factory=dict)


class PruneResult(StorageModel):
    """What :meth:`ChatStore.prune_threads` removed."""

    threads_deleted: int
    storage_paths: list[str] = Field(default_factory=list)
