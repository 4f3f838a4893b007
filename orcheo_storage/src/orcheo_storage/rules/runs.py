"""Workflow runs: the runnable-config merge and the run state machine."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from orcheo_storage.errors import InvalidTransitionError
from orcheo_storage.jsoncodec import JsonObject, normalise_object
from orcheo_storage.models.common import build
from orcheo_storage.models.workflows import RunStatus, WorkflowRun
from orcheo_storage.rules.workflows import audit

MERGED_MAPPINGS = ("configurable", "metadata")

RUN_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.PENDING: frozenset({RunStatus.RUNNING, RunStatus.FAILED, RunStatus.CANCELLED}),
    RunStatus.RUNNING: frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}),
    RunStatus.SUCCEEDED: frozenset(),
    RunStatus.FAILED: frozenset(),
    RunStatus.CANCELLED: frozenset(),
}
TERMINAL_RUN_STATES = frozenset(s for s, nxt in RUN_TRANSITIONS.items() if not nxt)


def merge_runnable_config(
    base: dict[str, Any] | None, override: dict[str, Any] | None
) -> JsonObject:
    """Merge a version's runnable_config with a caller's override.

    The override wins; ``configurable`` and ``metadata`` merge key by key; every
    other key (tags, callbacks, run_name, recursion_limit, max_concurrency, ...) is
    replaced whole. Neither input is modified.
    """
    merged = dict(normalise_object(base, "runnable_config"))
    for key, value in normalise_object(override, "runnable_config").items():
        current = merged.get(key)
        if key in MERGED_MAPPINGS and isinstance(current, dict) and isinstance(value, dict):
            merged[key] = {**current, **value}
        else:
            merged[key] = value
    return merged


def new_run(
    *,
    workflow_id: uuid.UUID,
    version_id: uuid.UUID,
    version_config: dict[str, Any] | None,
    triggered_by: str,
    now: datetime,
    input_payload: dict[str, Any] | None = None,
    runnable_config: dict[str, Any] | None = None,
    run_id: uuid.UUID | None = None,
) -> WorkflowRun:
    """Build a pending run whose config is the version's merged with ``runnable_config``."""
    config = merge_runnable_config(version_config, runnable_config)
    tags = config.get("tags")
    callbacks = config.get("callbacks")
    metadata = config.get("metadata")
    run_name = config.get("run_name")
    return build(
        WorkflowRun,
        id=run_id or uuid.uuid4(),
        workflow_id=workflow_id,
        workflow_version_id=version_id,
        triggered_by=triggered_by,
        input_payload=input_payload or {},
        runnable_config=config,
        tags=tags if isinstance(tags, list) else [],
        callbacks=callbacks if isinstance(callbacks, list) else [],
        metadata=metadata if isinstance(metadata, dict) else {},
        run_name=run_name if isinstance(run_name, str) else None,
        created_at=now,
        updated_at=now,
        audit_log=[audit(triggered_by, "run_created", now)],
    )


def transition_run(
    run: WorkflowRun,
    target: RunStatus,
    *,
    actor: str,
    now: datetime,
    output: dict[str, Any] | None = None,
    error: str | None = None,
) -> WorkflowRun:
    """Move ``run`` to ``target`` following the state machine.

    pending -> running -> succeeded; pending|running -> failed; any non-terminal ->
    cancelled. ``error`` holds the failure message or the cancellation reason.

    Raises:
        InvalidTransitionError: the state machine forbids it.
    """
    if target not in RUN_TRANSITIONS[run.status]:
        raise InvalidTransitionError("workflow run", run.id, run.status.value, target.value)
    update: dict[str, Any] = {"status": target, "updated_at": now}
    if target is RunStatus.RUNNING:
        update["started_at"] = now
    else:
        update["completed_at"] = now
    if target is RunStatus.SUCCEEDED:
        update["output_payload"] = normalise_object(output, "output_payload")
    if error is not None:
        update["error"] = error
    metadata: dict[str, Any] = {"from": run.status.value, "to": target.value}
    event = audit(actor, f"run_{target.value}", now, metadata)
    return build(
        WorkflowRun, **{**run.model_dump(), **update, "audit_log": [*run.audit_log, event]}
    )
