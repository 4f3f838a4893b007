"""Run history records and steps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orcheo_storage.models.common import build
from orcheo_storage.models.history import HistoryStatus, RunHistoryRecord, RunHistoryStep
from orcheo_storage.rules.jsonsafe import to_json_object, to_json_safe


def new_record(
    *,
    execution_id: str,
    workflow_id: str,
    now: datetime,
    inputs: Any = None,
    runnable_config: Any = None,
    tags: list[str] | None = None,
    callbacks: list[Any] | None = None,
    metadata: Any = None,
    run_name: str | None = None,
    trace_id: str | None = None,
    trace_started_at: datetime | None = None,
) -> RunHistoryRecord:
    """A running history record with JSON-safe inputs (see :mod:`rules.jsonsafe`)."""
    return build(
        RunHistoryRecord,
        execution_id=execution_id,
        workflow_id=workflow_id,
        inputs=to_json_object(inputs) if inputs is not None else {},
        runnable_config=to_json_object(runnable_config) if runnable_config is not None else {},
        tags=list(tags or []),
        callbacks=[to_json_object(c) for c in callbacks or []],
        metadata=to_json_object(metadata) if metadata is not None else {},
        run_name=run_name,
        started_at=now,
        trace_id=trace_id,
        trace_started_at=trace_started_at,
    )


def new_step(index: int, payload: Any, now: datetime) -> RunHistoryStep:
    """Step ``index`` with a JSON-safe payload (non-mappings wrapped as ``{"value": ...}``)."""
    return build(RunHistoryStep, index=index, at=now, payload=to_json_object(payload))


def finish(
    record: RunHistoryRecord, status: HistoryStatus, *, now: datetime, error: str | None = None
) -> RunHistoryRecord:
    """Mark a record completed, failed (``error``) or cancelled (``error`` is the reason)."""
    return build(
        RunHistoryRecord,
        **{
            **record.model_dump(),
            "status": status,
            "completed_at": now,
            "error": error,
            "trace_completed_at": now,
        },
    )


__all__ = ["finish", "new_record", "new_step", "to_json_safe"]
