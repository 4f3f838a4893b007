"""Mappers for ``workflows.sqlite``: workflows, versions, runs, triggers, listeners, history.

Each mapper takes a row whose JSON columns are decoded and whose every field the shape
accounts for (:mod:`.check`), and builds this project's model strictly: a key the mapper
does not translate is refused by the model (``extra="forbid"``), never dropped silently.
Orcheo reads entities from their ``payload``; the mirrored columns only fill a key an
older payload lacks.
"""

from __future__ import annotations

from typing import Any

from orcheo_storage.jsoncodec import JsonObject
from orcheo_storage.migration.legacy.context import MapContext, TableMap
from orcheo_storage.migration.legacy.fitting import (
    LegacyRowError,
    dump,
    payload_of,
    strict,
    utc_text,
)
from orcheo_storage.migration.legacy.shapes import CURSOR_POSITIONS
from orcheo_storage.models.agentensor import AgentensorCheckpoint
from orcheo_storage.models.history import RunHistoryRecord
from orcheo_storage.models.listeners import ListenerCursor, ListenerSubscription
from orcheo_storage.models.remediations import RemediationCandidate
from orcheo_storage.models.triggers import CronConfig, RetryPolicy
from orcheo_storage.models.workflows import Workflow, WorkflowRun, WorkflowVersion
from orcheo_storage.rules.triggers import normalise_webhook, seal_webhook
from orcheo_storage.rules.versions import graph_checksum

_PUBLICATION = ("is_public", "published_at", "published_by", "require_login")
_OLD_CHAT_KEYS = {
    "chatkit_start_screen_prompts": "start_screen_prompts",
    "chatkit_supported_models": "supported_models",
}


def workflow(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    p = payload_of(row, "id", "handle", "is_archived", "created_at", "updated_at")
    for dropped in ("publish_token_hash", "publish_token_rotated_at"):
        p.pop(dropped, None)  # documented drop: Orcheo discards them when it reads a workflow
    p["publication"] = {k: p.pop(k) for k in _PUBLICATION if k in p}
    chat = p.pop("chatkit", None)
    old = {new: p.pop(key) for key, new in _OLD_CHAT_KEYS.items() if key in p}
    if chat is None and old:
        chat = old  # Orcheo folds the older top-level keys in unless `chatkit` is set
    p["chat"] = chat
    if p.get("draft_access") is None:
        tags = p.get("tags")
        workspace = isinstance(tags, list) and any(
            isinstance(t, str) and t.lower().startswith("workspace:") for t in tags
        )
        p["draft_access"] = "workspace" if workspace else "personal"
    if p.get("is_archived") is not None:
        p["is_archived"] = bool(p["is_archived"])
    return dump(strict(Workflow, p))


def version(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    p = payload_of(row, "id", "workflow_id", "version", "created_at", "updated_at")
    p.setdefault("graph", {})
    p.setdefault("updated_at", p.get("created_at"))
    graph = p["graph"]
    # Orcheo stores no checksum: it is computed from the graph, by Orcheo's own rule.
    p["checksum"] = graph_checksum(graph) if isinstance(graph, dict) else ""
    return dump(strict(WorkflowVersion, p))


def run(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    # A run's payload has no workflow_id: only the column links a run to its workflow.
    p = payload_of(
        row, "id", "workflow_version_id", "status", "triggered_by", "created_at", "updated_at"
    )
    p["workflow_id"] = row.get("workflow_id")
    return dump(strict(WorkflowRun, p))


def remediation(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    p = payload_of(
        row,
        "id",
        "workflow_id",
        "workflow_version_id",
        "run_id",
        "status",
        "fingerprint",
        "version_checksum",
        "attempt_count",
        "created_at",
        "updated_at",
    )
    return dump(strict(RemediationCandidate, p))


def webhook(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    # Today's secrets are plain text in this JSON; they are sealed under the target key.
    config = row.get("config")
    if not isinstance(config, dict):
        raise LegacyRowError("expected a JSON object", field="config")
    try:
        sealed = seal_webhook(normalise_webhook(config), ctx.target_cipher, row["workflow_id"])
    except ValueError as exc:
        field = getattr(exc, "field", None)
        message = str(exc).split(": ", 1)[-1] if field else str(exc)
        raise LegacyRowError(message, field=f"config.{field}" if field else "config") from None
    return {"workflow_id": row["workflow_id"], "config": sealed}


def cron(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    config = strict(CronConfig, row["config"], "config")
    return {"workflow_id": row["workflow_id"], "config": dump(config)}


def cron_dispatch(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    return {
        "workflow_id": row["workflow_id"],
        "last_dispatched_at": utc_text(row["last_dispatched_at"]),
    }


def retry(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    policy = strict(RetryPolicy, row["config"], "policy")
    return {"workflow_id": row["workflow_id"], "policy": dump(policy)}


def subscription(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    p = payload_of(
        row,
        "id",
        "workflow_id",
        "workflow_version_id",
        "node_name",
        "platform",
        "bot_identity_key",
        "status",
        "created_at",
        "updated_at",
    )
    return dump(strict(ListenerSubscription, p))


def cursor(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    p = payload_of(row, "subscription_id", "updated_at")
    positions = {name: p.pop(name) for name, _ in CURSOR_POSITIONS if name in p}
    p["fields"] = positions
    return dump(strict(ListenerCursor, p))


def dedupe(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    p = payload_of(row, "subscription_id", "dedupe_key", "expires_at")
    return {
        "subscription_id": p.get("subscription_id"),
        "dedupe_key": p.get("dedupe_key"),
        "expires_at": utc_text(p.get("expires_at")),
        "created_at": utc_text(p.get("created_at")),
    }


def history(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    data = dict(row)
    for column, empty in (
        ("inputs", {}),
        ("runnable_config", {}),
        ("metadata", {}),
        ("tags", []),
        ("callbacks", []),
    ):
        if data.get(column) is None:
            data[column] = empty
    record = strict(RunHistoryRecord, data)
    out = dump(record)
    out.pop("steps", None)
    return out


def step(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    payload = row.get("payload")
    if not isinstance(payload, dict):
        raise LegacyRowError("expected a JSON object", field="payload")
    return {
        "execution_id": row["execution_id"],
        "index": int(row["step_index"]),
        "at": utc_text(row["at"]),
        "payload": payload,
    }


def checkpoint(row: dict[str, Any], ctx: MapContext) -> JsonObject:
    data = dict(row)
    for column in ("runnable_config", "metrics", "metadata"):
        if data.get(column) is None:
            data[column] = {}
    if data.get("is_best") is not None:
        data["is_best"] = bool(data["is_best"])
    return dump(strict(AgentensorCheckpoint, data))


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
