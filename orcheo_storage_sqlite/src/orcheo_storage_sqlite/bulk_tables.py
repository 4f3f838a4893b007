"""How each logical table of :mod:`orcheo_storage.migration.tables` maps to this schema.

A logical row is the model's JSON form (datetimes as ISO text, UUIDs as text, exact
numbers kept); each :class:`~orcheo_storage_sqlite.bulk_mapping.Mapping` converts physical
rows to logical rows on export and logical rows back to the parameters of one INSERT on
import (and of the same INSERT as an upsert in ``apply_changes``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from orcheo_storage.clock import utcnow
from orcheo_storage.errors import ValidationError
from orcheo_storage.jsoncodec import JsonObject, dumps
from orcheo_storage.models.common import build
from orcheo_storage.models.listeners import ListenerCursor
from orcheo_storage.models.triggers import CronConfig, RetryPolicy
from orcheo_storage.models.vault import StoredCredential
from pydantic import BaseModel

from orcheo_storage_sqlite.bulk_mapping import Mapping
from orcheo_storage_sqlite.codec import TableMap, from_ts, from_ts_opt, jload, to_json_value, ts
from orcheo_storage_sqlite.tables import (
    ALERTS,
    CANDIDATES,
    CHECKPOINTS,
    CRON,
    HISTORIES,
    RETRY,
    RUNS,
    SUBSCRIPTIONS,
    TEMPLATES,
    TOKEN_AUDIT,
    TOKENS,
    VERSIONS,
    WORKFLOWS,
)
from orcheo_storage_sqlite.vault import _COLS as CREDENTIAL_COLS
from orcheo_storage_sqlite.vault import _credential_params, _load_credential

M = TypeVar("M", bound=BaseModel)


def _iso(value: int | None) -> str | None:
    stamp = from_ts_opt(value)
    return None if stamp is None else stamp.isoformat()


def _stamp(value: Any) -> int:
    return ts(value if isinstance(value, datetime) else datetime.fromisoformat(str(value)))


def _validated(model: type[M], value: Any) -> M:
    """``value`` as ``model``; a typed ``ValidationError`` naming the field when it is not."""
    if not isinstance(value, dict):
        raise ValidationError(f"a {model.__name__} must be a JSON object")
    return build(model, **value)


def _model_mapping(
    component: str,
    tmap: TableMap[Any],
    export: Callable[[Sequence[Any]], JsonObject] | None = None,
) -> Mapping:
    def export_model(row: Sequence[Any]) -> JsonObject:
        value = to_json_value(tmap.load(row))
        assert isinstance(value, dict)
        return value

    def params(row: JsonObject) -> Sequence[Any]:
        return tmap.params(_validated(tmap.model, row))

    return Mapping(
        component, tmap.table, tmap.key, tmap.names, export or export_model, tmap.names, params
    )


def _history_export(row: Sequence[Any]) -> JsonObject:
    value = to_json_value(HISTORIES.load(row))
    assert isinstance(value, dict)
    value.pop("steps", None)
    return value


def _step_params(row: JsonObject) -> Sequence[Any]:
    index = int(row["index"])  # type: ignore[arg-type]
    return (row["execution_id"], index, _stamp(row["at"]), dumps(row["payload"]))


def _step_after(conn: sqlite3.Connection, row: JsonObject) -> None:
    # Raised, never lowered: an in-place update of an old step keeps the count.
    conn.execute(
        "UPDATE run_histories SET step_count = max(step_count, ?) WHERE execution_id = ?",
        (int(row["index"]) + 1, row["execution_id"]),  # type: ignore[arg-type]
    )


def _credential_params_of(row: JsonObject) -> Sequence[Any]:
    return _credential_params(_validated(StoredCredential, row))


def _credential_export(row: Sequence[Any]) -> JsonObject:
    value = to_json_value(_load_credential(tuple(row)))
    assert isinstance(value, dict)
    return value


def _audit_export(row: Sequence[Any]) -> JsonObject:
    value = to_json_value(TOKEN_AUDIT.load(row[1:]))
    assert isinstance(value, dict)
    value["seq"] = row[0]
    return value


def _audit_params(row: JsonObject) -> Sequence[Any]:
    event = _validated(TOKEN_AUDIT.model, {k: v for k, v in row.items() if k != "seq"})
    return (row["seq"], *TOKEN_AUDIT.params(event))


def _sub_config(table: str, tmap: TableMap[Any], field: str) -> Mapping:
    """``{workflow_id, <field>: model}`` tables whose model fields are columns."""

    def export(row: Sequence[Any]) -> JsonObject:
        return {"workflow_id": row[0], field: to_json_value(tmap.load(row[1:]))}

    def params(row: JsonObject) -> Sequence[Any]:
        return (row["workflow_id"], *tmap.params(_validated(tmap.model, row[field])))

    names = ("workflow_id", *tmap.names)
    return Mapping("repository", table, ("workflow_id",), names, export, names, params)


def _plain(
    component: str,
    table: str,
    key: tuple[str, ...],
    columns: tuple[tuple[str, str, str], ...],
) -> Mapping:
    """Tables whose logical fields are columns: ``(logical, physical, kind)`` with kind
    ``raw``, ``ts`` (ISO text <-> microseconds), ``json``, or ``touched``: a bookkeeping
    timestamp of this schema that is not part of the logical row (not exported; set to the
    import time on import)."""

    def export(row: Sequence[Any]) -> JsonObject:
        out: JsonObject = {}
        for (name, _, kind), value in zip(columns, row, strict=True):
            if kind == "touched":
                continue
            if kind == "ts":
                out[name] = _iso(value)
            elif kind == "json":
                out[name] = jload(value)
            else:
                out[name] = value
        return out

    def params(row: JsonObject) -> Sequence[Any]:
        values: list[Any] = []
        for name, _, kind in columns:
            value = row.get(name)
            if kind == "touched":
                values.append(_stamp(utcnow()))
            elif value is None:
                values.append(None)
            elif kind == "ts":
                values.append(_stamp(value))
            elif kind == "json":
                values.append(dumps(value))
            else:
                values.append(value)
        return values

    physical_key = tuple(next(p for n, p, _ in columns if n == k) for k in key)
    physical = tuple(p for _, p, _ in columns)
    return Mapping(component, table, physical_key, physical, export, physical, params)


def _item_params(row: JsonObject) -> Sequence[Any]:
    from orcheo_storage_sqlite.chat import search_text

    return (
        row["id"],
        row["thread_id"],
        row["ordinal"],
        _stamp(row["created_at"]),
        dumps(row["item"]),
        search_text(row["item"]),
    )


def _cursor_params(row: JsonObject) -> Sequence[Any]:
    cursor = _validated(ListenerCursor, row)
    return (
        str(cursor.subscription_id),
        dumps(cursor.fields),
        dumps(cursor.metadata),
        ts(cursor.updated_at),
    )


def _cursor_export(row: Sequence[Any]) -> JsonObject:
    return {
        "subscription_id": row[0],
        "fields": jload(row[1]),
        "metadata": jload(row[2]),
        "updated_at": from_ts(row[3]).isoformat(),
    }


MAPPINGS: dict[str, Mapping] = {
    "workflows": _model_mapping("repository", WORKFLOWS),
    "workflow_versions": _model_mapping("repository", VERSIONS),
    "workflow_runs": _model_mapping("repository", RUNS),
    "webhook_triggers": _plain(
        "repository",
        "webhook_triggers",
        ("workflow_id",),
        (
            ("workflow_id", "workflow_id", "raw"),
            ("config", "config", "json"),
            ("updated_at", "updated_at", "touched"),
        ),
    ),
    "cron_triggers": _sub_config("cron_triggers", CRON, "config"),
    "cron_dispatch": _plain(
        "repository",
        "cron_dispatch",
        ("workflow_id",),
        (("workflow_id", "workflow_id", "raw"), ("last_dispatched_at", "last_dispatched_at", "ts")),
    ),
    "retry_policies": _sub_config("retry_policies", RETRY, "policy"),
    "retry_attempts": _plain(
        "repository",
        "retry_attempts",
        ("run_id",),
        (("run_id", "run_id", "raw"), ("attempts", "attempts", "raw")),
    ),
    "listener_subscriptions": _model_mapping("repository", SUBSCRIPTIONS),
    "listener_cursors": Mapping(
        "repository",
        "listener_cursors",
        ("subscription_id",),
        ("subscription_id", "fields", "metadata", "updated_at"),
        _cursor_export,
        ("subscription_id", "fields", "metadata", "updated_at"),
        _cursor_params,
    ),
    "listener_dedupe": _plain(
        "repository",
        "listener_dedupe",
        ("subscription_id", "dedupe_key"),
        (
            ("subscription_id", "subscription_id", "raw"),
            ("dedupe_key", "dedupe_key", "raw"),
            ("expires_at", "expires_at", "ts"),
            ("created_at", "created_at", "ts"),
        ),
    ),
    "remediation_candidates": _model_mapping("repository", CANDIDATES),
    "run_histories": _model_mapping("repository", HISTORIES, _history_export),
    "run_history_steps": Mapping(
        "repository",
        "run_history_steps",
        ("execution_id", "step_index"),
        ("execution_id", "step_index", "at", "payload"),
        lambda r: {"execution_id": r[0], "index": r[1], "at": _iso(r[2]), "payload": jload(r[3])},
        ("execution_id", "step_index", "at", "payload"),
        _step_params,
        _step_after,
    ),
    "service_tokens": _model_mapping("tokens", TOKENS),
    "service_token_audit": Mapping(
        "tokens",
        "service_token_audit",
        ("seq",),
        ("seq", *TOKEN_AUDIT.names),
        _audit_export,
        ("seq", *TOKEN_AUDIT.names),
        _audit_params,
    ),
    "agentensor_checkpoints": _model_mapping("repository", CHECKPOINTS),
    "vault_templates": _model_mapping("vault", TEMPLATES),
    "vault_credentials": Mapping(
        "vault",
        "vault_credentials",
        ("id",),
        CREDENTIAL_COLS,
        _credential_export,
        CREDENTIAL_COLS,
        _credential_params_of,
    ),
    "vault_alerts": _model_mapping("vault", ALERTS),
    "chat_threads": _plain(
        "chat",
        "chat_threads",
        ("id",),
        (
            ("id", "id", "raw"),
            ("title", "title", "raw"),
            ("created_at", "created_at", "ts"),
            ("updated_at", "updated_at", "ts"),
            ("status", "status", "json"),
            ("allowed_image_domains", "allowed_image_domains", "json"),
            ("metadata", "metadata", "json"),
            ("workflow_id", "workflow_id", "raw"),
        ),
    ),
    "chat_items": Mapping(
        "chat",
        "chat_items",
        ("thread_id", "ordinal"),
        ("id", "thread_id", "ordinal", "created_at", "item"),
        lambda r: {
            "id": r[0],
            "thread_id": r[1],
            "ordinal": r[2],
            "created_at": _iso(r[3]),
            "item": jload(r[4]),
        },
        ("id", "thread_id", "ordinal", "created_at", "item", "search_text"),
        _item_params,
    ),
    "chat_attachments": _plain(
        "chat",
        "chat_attachments",
        ("id",),
        (
            ("id", "id", "raw"),
            ("thread_id", "thread_id", "raw"),
            ("storage_path", "storage_path", "raw"),
            ("created_at", "created_at", "ts"),
            ("attachment", "attachment", "json"),
        ),
    ),
}

__all__ = ["MAPPINGS", "CronConfig", "Mapping", "RetryPolicy"]
