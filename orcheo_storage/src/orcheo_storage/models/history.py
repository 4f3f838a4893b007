"""Run history: the execution trace of one workflow execution."""

from __future__ import annotations

import enum

from pydantic import Field

from orcheo_storage.models.common import INT64_MAX, Json, JsonDict, StorageModel, Text, UtcDatetime


class HistoryStatus(enum.StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    ERROR = "error"
    CANCELLED = "cancelled"


class RunHistoryStep(StorageModel):
    index: int = Field(ge=0, le=INT64_MAX)
    at: UtcDatetime
    payload: JsonDict


class RunHistoryRecord(StorageModel):
    execution_id: Text
    workflow_id: Text
    inputs: JsonDict = Field(default_factory=dict)
    runnable_config: JsonDict = Field(default_factory=dict)
    tags: list[Text] = Field(default_factory=list)
    callbacks: list[Json] = Field(default_factory=list)
    metadata: JsonDict = Field(default_factory=dict)
    run_name: Text | None = None
    status: HistoryStatus = HistoryStatus.RUNNING
    started_at: UtcDatetime
    completed_at: UtcDatetime | None = None
    error: Text | None = None
    trace_id: Text | None = None
    trace_started_at: UtcDatetime | None = None
    trace_completed_at: UtcDatetime | None = None
    trace_last_span_at: UtcDatetime | None = None
    steps: list[RunHistoryStep] = Field(default_factory=list)
