"""Run history: execution traces with gapless step indexes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from orcheo_storage.models.common import Page
from orcheo_storage.models.history import RunHistoryRecord, RunHistoryStep


@runtime_checkable
class HistoryStore(Protocol):
    async def start_run(
        self,
        *,
        execution_id: str,
        workflow_id: str,
        inputs: Any = None,
        runnable_config: Any = None,
        tags: list[str] | None = None,
        callbacks: list[Any] | None = None,
        metadata: Any = None,
        run_name: str | None = None,
        trace_id: str | None = None,
        trace_started_at: datetime | None = None,
    ) -> RunHistoryRecord:
        """Raises ``DuplicateError`` for an existing execution_id."""
        ...

    async def append_step(self, execution_id: str, payload: Any) -> RunHistoryStep:
        """Next gapless index (unique under concurrent appends); sets trace_last_span_at.
        Raises ``ExecutionNotFoundError``."""
        ...

    async def mark_completed(self, execution_id: str) -> RunHistoryRecord: ...

    async def mark_failed(self, execution_id: str, error: str) -> RunHistoryRecord: ...

    async def mark_cancelled(
        self, execution_id: str, *, reason: str | None = None
    ) -> RunHistoryRecord: ...

    async def get_history(
        self, execution_id: str, *, include_steps: bool = True
    ) -> RunHistoryRecord:
        """The record with its steps in index order (``include_steps=False`` for none)."""
        ...

    async def list_steps(
        self, execution_id: str, *, after_index: int = -1, limit: int = 500
    ) -> list[RunHistoryStep]:
        """Page through a large trace: steps with index > ``after_index``, ascending."""
        ...

    async def list_histories(
        self, workflow_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> Page[RunHistoryRecord]:
        """Newest first (started_at, execution_id descending), without steps."""
        ...
