"""In-memory run history: execution records and their gapless steps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orcheo_storage.clock import optional_utc, utcnow
from orcheo_storage.errors import DuplicateError, ExecutionNotFoundError
from orcheo_storage.memory._lifecycle import refuses_when_closed
from orcheo_storage.memory._paging import newest_first_page
from orcheo_storage.memory._state import MemoryState, copy
from orcheo_storage.models.common import Page
from orcheo_storage.models.history import HistoryStatus, RunHistoryRecord, RunHistoryStep
from orcheo_storage.rules import history as history_rules
from orcheo_storage.rules.jsonsafe import to_json_object
from orcheo_storage.rules.pagination import check_after_index, check_limit, decode_time_cursor


@refuses_when_closed
class MemoryHistoryStore:
    """:class:`~orcheo_storage.protocols.history.HistoryStore` over a session's state."""

    def __init__(self, state: MemoryState) -> None:
        self._state = state

    def _require(self, execution_id: str) -> RunHistoryRecord:
        record = self._state.histories.get(execution_id)
        if record is None:
            raise ExecutionNotFoundError(execution_id)
        return record

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
        record = history_rules.new_record(
            execution_id=execution_id,
            workflow_id=workflow_id,
            now=utcnow(),
            inputs=inputs,
            runnable_config=runnable_config,
            tags=tags,
            callbacks=callbacks,
            metadata=metadata,
            run_name=run_name,
            trace_id=trace_id,
            trace_started_at=optional_utc(trace_started_at, "trace_started_at"),
        )
        if record.execution_id in self._state.histories:
            raise DuplicateError("run history", record.execution_id)
        self._state.put_history(record)
        return copy(record)

    async def append_step(self, execution_id: str, payload: Any) -> RunHistoryStep:
        # Validate the payload before the lookup: hostile input is a ValidationError on every
        # backend, whether or not the execution exists.
        safe_payload = to_json_object(payload)
        record = self._require(execution_id)
        steps = self._state.steps[execution_id]
        now = utcnow()
        step = history_rules.new_step(len(steps), safe_payload, now)
        steps.append(step)
        self._state.histories[execution_id] = record.model_copy(update={"trace_last_span_at": now})
        return copy(step)

    def _finish(
        self, execution_id: str, status: HistoryStatus, error: str | None
    ) -> RunHistoryRecord:
        record = self._require(execution_id)
        finished = history_rules.finish(record, status, now=utcnow(), error=error)
        self._state.histories[execution_id] = finished
        return self._with_steps(finished, include_steps=True)

    async def mark_completed(self, execution_id: str) -> RunHistoryRecord:
        return self._finish(execution_id, HistoryStatus.COMPLETED, None)

    async def mark_failed(self, execution_id: str, error: str) -> RunHistoryRecord:
        return self._finish(execution_id, HistoryStatus.ERROR, error)

    async def mark_cancelled(
        self, execution_id: str, *, reason: str | None = None
    ) -> RunHistoryRecord:
        return self._finish(execution_id, HistoryStatus.CANCELLED, reason)

    def _with_steps(self, record: RunHistoryRecord, *, include_steps: bool) -> RunHistoryRecord:
        steps = self._state.steps.get(record.execution_id, []) if include_steps else []
        # ``model_copy(update=..., deep=True)`` does not copy the update values: copy each step.
        return copy(record).model_copy(update={"steps": [copy(s) for s in steps]})

    async def get_history(
        self, execution_id: str, *, include_steps: bool = True
    ) -> RunHistoryRecord:
        return self._with_steps(self._require(execution_id), include_steps=include_steps)

    async def list_steps(
        self, execution_id: str, *, after_index: int = -1, limit: int = 500
    ) -> list[RunHistoryStep]:
        check_limit(limit)
        check_after_index(after_index)
        self._require(execution_id)
        steps = self._state.steps[execution_id]
        return [copy(s) for s in steps[after_index + 1 : after_index + 1 + limit]]

    async def list_histories(
        self, workflow_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> Page[RunHistoryRecord]:
        check_limit(limit)
        after = decode_time_cursor(cursor)
        keys = self._state.histories_by_workflow.get(workflow_id, [])
        page, next_cursor = newest_first_page(keys, after=after, limit=limit)
        return Page[RunHistoryRecord](
            items=[
                self._with_steps(self._state.histories[eid], include_steps=False) for _, eid in page
            ],
            next_cursor=next_cursor,
        )
