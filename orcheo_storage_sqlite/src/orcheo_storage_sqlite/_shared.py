"""Queries shared by several repository stores (each runs inside a caller's transaction)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from orcheo_storage.errors import VersionNotFoundError, WorkflowNotFoundError
from orcheo_storage.models.listeners import ListenerStatus
from orcheo_storage.models.workflows import Workflow, WorkflowRun
from orcheo_storage.rules import listeners as listener_rules
from orcheo_storage.rules import runs as run_rules
from orcheo_storage.rules.pagination import decode_time_cursor as decode_position
from orcheo_storage.rules.pagination import encode_cursor

from orcheo_storage_sqlite.codec import from_ts, ts
from orcheo_storage_sqlite.tables import RUNS, SUBSCRIPTIONS, VERSIONS, WORKFLOWS

_WORKFLOW_BY_ID = "id = ?"
_ENABLED_SUBS = "workflow_id = ? AND status != 'disabled'"


def require_workflow(conn: sqlite3.Connection, workflow_id: UUID) -> Workflow:
    """The stored workflow. Raises ``WorkflowNotFoundError``."""
    workflow = WORKFLOWS.fetch_one(conn, _WORKFLOW_BY_ID, (str(workflow_id),))
    if workflow is None:
        raise WorkflowNotFoundError(workflow_id)
    return workflow


def build_run(
    conn: sqlite3.Connection,
    workflow_id: UUID,
    *,
    workflow_version_id: UUID,
    triggered_by: str,
    now: datetime,
    input_payload: dict[str, Any] | None = None,
    runnable_config: dict[str, Any] | None = None,
) -> WorkflowRun:
    """Validate and build a pending run (not stored).

    Raises:
        WorkflowNotFoundError: missing or archived workflow.
        VersionNotFoundError: missing version, or a version of another workflow.
    """
    row = conn.execute("SELECT is_archived FROM workflows WHERE id = ?", (str(workflow_id),))
    found = row.fetchone()
    if found is None or found[0]:
        raise WorkflowNotFoundError(workflow_id)
    version = VERSIONS.fetch_one(conn, "id = ?", (str(workflow_version_id),))
    if version is None or version.workflow_id != workflow_id:
        raise VersionNotFoundError(workflow_version_id)
    return run_rules.new_run(
        workflow_id=workflow_id,
        version_id=version.id,
        version_config=version.runnable_config,
        triggered_by=triggered_by,
        now=now,
        input_payload=input_payload,
        runnable_config=runnable_config,
    )


def insert_run(conn: sqlite3.Connection, run: WorkflowRun) -> None:
    RUNS.insert_row(conn, run)


def disable_subscriptions(
    conn: sqlite3.Connection, workflow_id: UUID, *, reason: str, now: datetime
) -> None:
    """Disable every non-disabled subscription of a workflow (in the caller's transaction)."""
    for sub in SUBSCRIPTIONS.fetch_all(conn, f"WHERE {_ENABLED_SUBS}", (str(workflow_id),)):
        if sub.status is not ListenerStatus.DISABLED:
            SUBSCRIPTIONS.update_row(conn, listener_rules.disable(sub, reason=reason, now=now))


def time_cursor(stamp: int, key: str) -> str:
    """An opaque newest-first cursor for the ``(timestamp, key)`` of the last row returned."""
    return encode_cursor(from_ts(stamp).isoformat(), key)


def decode_time_cursor(
    cursor: str | None, parse_key: Callable[[str], Any] = str
) -> tuple[int, str] | None:
    """Decode :func:`time_cursor` (the core's rule). Raises ``ValidationError`` when malformed."""
    after = decode_position(cursor, parse_key)
    if after is None:
        return None
    return ts(after[0]), str(after[1])
