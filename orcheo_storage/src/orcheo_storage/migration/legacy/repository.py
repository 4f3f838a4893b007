"""Mappers for ``workflows.sqlite``: workflows, versions, runs, triggers, listeners, history."""

from __future__ import annotations

from typing import Any

from orcheo_storage.jsoncodec import JsonObject
from orcheo_storage.migration.legacy.context import MapContext, TableMap
from orcheo_storage.migration.legacy.fitting import (
    LegacyRowError,
    as_object,
    dump,
    fit,
    parse_json,
    utc_text,
)
from orcheo_storage.models.agentensor import AgentensorCheckpoint
from orcheo_storage.models.history import RunHistoryRecord
from orcheo_storage.models.listeners import ListenerCursor, ListenerSubscription
from orcheo_storage.models.remediations import RemediationCandidate
from orcheo_storage.models.triggers import CronConfig, RetryPolicy
from orcheo_storage.models.workflows import Workflow, WorkflowRun, WorkflowVersion
from orcheo_storage.rules.triggers import normalise_webhook, seal_webhook
from orcheo_storage.rules.versions import graph_checksum


def _with_columns(payload: dict[str, Any], row: dict[str, Any], *columns: str) -> dict[str, Any]:
    # Mirrored columns are authoritative where present: today's code updates them in place.
    for column in columns:
        if column in row and row[column] is not None:
            payload[column] = row[column]
    return payload


def workflow(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    payload = as_object(row["payload"], "workflows.payload")
    if "handle" in row:
        payload["handle"] = row["handle"]
    if "is_archived" in row and row["is_archived"] is not None:
        payload["is_archived"] = bool(row["is_archived"])
    payload.setdefault("id", row["id"])
    return dump(fit(Workflow, payload, "workflows.payload", ctx.notes))


def version(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    payload = _with_columns(
        as_object(row["payload"], "workflow_versions.payload"), row, "id", "workflow_id", "version"
    )
    if not payload.get("checksum") and isinstance(payload.get("graph"), dict):
        payload["checksum"] = graph_checksum(payload["graph"])
    payload.setdefault("created_by", "legacy")
    return dump(fit(WorkflowVersion, payload, "workflow_versions.payload", ctx.notes))


def run(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    # A run's payload has no workflow_id: only the column links a run to its workflow.
    payload = _with_columns(
        as_object(row["payload"], "workflow_runs.payload"),
        row,
        "id",
        "workflow_id",
        "workflow_version_id",
        "status",
        "triggered_by",
    )
    return dump(fit(WorkflowRun, payload, "workflow_runs.payload", ctx.notes))


def remediation(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    payload = _with_columns(
        as_object(row["payload"], "workflow_run_remediations.payload"),
        row,
        "id",
        "workflow_id",
        "workflow_version_id",
        "run_id",
        "status",
        "fingerprint",
        "version_checksum",
        "attempt_count",
    )
    return dump(fit(RemediationCandidate, payload, "workflow_run_remediations.payload", ctx.notes))


def webhook(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    # Today's secrets are plain text in this JSON; they are sealed under the vault key.
    config = as_object(row["config"], "webhook_triggers.config")
    try:
        sealed = seal_webhook(normalise_webhook(config), ctx.target_cipher, row["workflow_id"])
    except ValueError as exc:
        raise LegacyRowError(f"webhook_triggers.config: {exc}") from None
    return {"workflow_id": row["workflow_id"], "config": sealed}


def cron(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    config = fit(
        CronConfig,
        as_object(row["config"], "cron_triggers.config"),
        "cron_triggers.config",
        ctx.notes,
    )
    return {"workflow_id": row["workflow_id"], "config": dump(config)}


def cron_dispatch(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    return {
        "workflow_id": row["workflow_id"],
        "last_dispatched_at": utc_text(row["last_dispatched_at"]),
    }


def retry(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    policy = fit(
        RetryPolicy,
        as_object(row["config"], "retry_policies.config"),
        "retry_policies.config",
        ctx.notes,
    )
    return {"workflow_id": row["workflow_id"], "policy": dump(policy)}


def subscription(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    payload = as_object(row["payload"], "listener_subscriptions.payload")
    for column in (
        "id",
        "workflow_id",
        "workflow_version_id",
        "node_name",
        "platform",
        "bot_identity_key",
        "status",
        "assigned_runtime",
        "lease_expires_at",
        "last_event_at",
        "last_error",
        "created_at",
        "updated_at",
    ):
        if column in row:
            payload[column] = row[column]
    return dump(fit(ListenerSubscription, payload, "listener_subscriptions.payload", ctx.notes))


def cursor(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    payload = as_object(row["payload"], "listener_cursors.payload")
    payload["subscription_id"] = row["subscription_id"]
    payload.setdefault("updated_at", row.get("updated_at"))
    return dump(fit(ListenerCursor, payload, "listener_cursors.payload", ctx.notes))


def dedupe(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    return {
        "subscription_id": row["subscription_id"],
        "dedupe_key": row["dedupe_key"],
        "expires_at": utc_text(row["expires_at"]),
    }


def history(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    data: dict[str, Any] = dict(row)
    for column in ("inputs", "runnable_config", "metadata"):
        data[column] = as_object(row.get(column), f"execution_history.{column}")
    for column in ("tags", "callbacks"):
        data[column] = parse_json(row.get(column), f"execution_history.{column}") or []
    record = fit(RunHistoryRecord, data, "execution_history", ctx.notes)
    out = dump(record)
    out.pop("steps", None)
    return out


def step(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    return {
        "execution_id": row["execution_id"],
        "index": int(row["step_index"]),
        "at": utc_text(row["at"]),
        "payload": as_object(row["payload"], "execution_history_steps.payload"),
    }


def checkpoint(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    data: dict[str, Any] = dict(row)
    for column in ("runnable_config", "metrics", "metadata"):
        data[column] = as_object(row.get(column), f"agentensor_checkpoints.{column}")
    if data.get("is_best") is not None:
        data["is_best"] = bool(data["is_best"])
    return dump(fit(AgentensorCheckpoint, data, "agentensor_checkpoints", ctx.notes))


REPOSITORY_TABLES: tuple[TableMap, ...] = (
    TableMap("workflows", "repository", "workflows", ("id",), workflow),
    TableMap("workflow_versions", "repository", "workflow_versions", ("id",), version),
    TableMap("workflow_runs", "repository", "workflow_runs", ("id",), run),
    TableMap("webhook_triggers", "repository", "webhook_triggers", ("workflow_id",), webhook),
    TableMap("cron_triggers", "repository", "cron_triggers", ("workflow_id",), cron),
    TableMap(
        "cron_dispatch",
        "repository",
        "cron_triggers",
        ("workflow_id",),
        cron_dispatch,
        where="last_dispatched_at IS NOT NULL",
    ),
    TableMap("retry_policies", "repository", "retry_policies", ("workflow_id",), retry),
    TableMap(
        "listener_subscriptions", "repository", "listener_subscriptions", ("id",), subscription
    ),
    TableMap("listener_cursors", "repository", "listener_cursors", ("subscription_id",), cursor),
    TableMap(
        "listener_dedupe",
        "repository",
        "listener_dedupe",
        ("subscription_id", "dedupe_key"),
        dedupe,
    ),
    TableMap(
        "remediation_candidates", "repository", "workflow_run_remediations", ("id",), remediation
    ),
    TableMap("run_histories", "repository", "execution_history", ("execution_id",), history),
    TableMap(
        "run_history_steps",
        "repository",
        "execution_history_steps",
        ("execution_id", "step_index"),
        step,
    ),
    TableMap("agentensor_checkpoints", "repository", "agentensor_checkpoints", ("id",), checkpoint),
)
