"""How each logical table of :mod:`orcheo_storage.migration.tables` maps to this schema.

A logical row is the model's JSON form (datetimes as ISO text, UUIDs as text, exact
numbers kept); :class:`Mapping` converts physical rows to logical rows on export and
logical rows back to INSERT parameters on import.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orcheo_storage.clock import utcnow
from orcheo_storage.jsoncodec import JsonObject, dumps
from orcheo_storage.models.listeners import ListenerCursor
from orcheo_storage.models.triggers import CronConfig, RetryPolicy
from orcheo_storage.models.vault import StoredCredential
from pydantic import BaseModel

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
from orcheo_storage_sqlite.vault import _INSERT as CREDENTIAL_INSERT
from orcheo_storage_sqlite.vault import _credential_params, _load_credential


@dataclass(frozen=True)
class Mapping:
    """One logical table on one database component."""

    component: str
    table: str
    key: tuple[str, ...]
    columns: tuple[str, ...]
    export: Callable[[Sequence[Any]], JsonObject]
    load: Callable[[sqlite3.Connection, JsonObject], None]

    @property
    def select(self) -> str:
        return f"SELECT {', '.join(self.columns)} FROM {self.table}"

    @property
    def order(self) -> str:
        return ", ".join(self.key)

    def after_clause(self) -> str:
        if len(self.key) == 1:
            return f"{self.key[0]} > ?"
        return f"({', '.join(self.key)}) > ({', '.join('?' for _ in self.key)})"


def _iso(value: int | None) -> str | None:
    stamp = from_ts_opt(value)
    return None if stamp is None else stamp.isoformat()


def _stamp(value: Any) -> int:
    return ts(value if isinstance(value, datetime) else datetime.fromisoformat(str(value)))


def _model_mapping(component: str, tmap: TableMap[Any]) -> Mapping:
    def export(row: Sequence[Any]) -> JsonObject:
        value = to_json_value(tmap.load(row))
        assert isinstance(value, dict)
        return value

    def load(conn: sqlite3.Connection, row: JsonObject) -> None:
        model: BaseModel = tmap.model.model_validate(row)
        tmap.insert_row(conn, model)

    return Mapping(component, tmap.table, tmap.key, tmap.names, export, load)


def _history_export(row: Sequence[Any]) -> JsonObject:
    value = to_json_value(HISTORIES.load(row))
    assert isinstance(value, dict)
    value.pop("steps", None)
    return value


def _step_load(conn: sqlite3.Connection, row: JsonObject) -> None:
    index = int(row["index"])  # type: ignore[arg-type]
    conn.execute(
        "INSERT INTO run_history_steps (execution_id, step_index, at, payload) VALUES (?, ?, ?, ?)",
        (row["execution_id"], index, _stamp(row["at"]), dumps(row["payload"])),
    )
    conn.execute(
        "UPDATE run_histories SET step_count = max(step_count, ?) WHERE execution_id = ?",
        (index + 1, row["execution_id"]),
    )


def _credential_load(conn: sqlite3.Connection, row: JsonObject) -> None:
    conn.execute(CREDENTIAL_INSERT, _credential_params(StoredCredential.model_validate(row)))


def _credential_export(row: Sequence[Any]) -> JsonObject:
    value = to_json_value(_load_credential(tuple(row)))
    assert isinstance(value, dict)
    return value


def _audit_export(row: Sequence[Any]) -> JsonObject:
    value = to_json_value(TOKEN_AUDIT.load(row[1:]))
    assert isinstance(value, dict)
    value["seq"] = row[0]
    return value


def _audit_load(conn: sqlite3.Connection, row: JsonObject) -> None:
    event = TOKEN_AUDIT.model.model_validate({k: v for k, v in row.items() if k != "seq"})
    conn.execute(
        f"INSERT INTO service_token_audit (seq, {', '.join(TOKEN_AUDIT.names)}) "
        f"VALUES (?, {', '.join('?' for _ in TOKEN_AUDIT.names)})",
        (row["seq"], *TOKEN_AUDIT.params(event)),
    )


def _sub_config(table: str, tmap: TableMap[Any], field: str) -> Mapping:
    """``{workflow_id, <field>: model}`` tables whose model fields are columns."""

    def export(row: Sequence[Any]) -> JsonObject:
        return {"workflow_id": row[0], field: to_json_value(tmap.load(row[1:]))}

    def load(conn: sqlite3.Connection, row: JsonObject) -> None:
        model = tmap.model.model_validate(row[field])
        marks = ", ".join("?" for _ in range(len(tmap.names) + 1))
        conn.execute(
            f"INSERT INTO {table} (workflow_id, {', '.join(tmap.names)}) VALUES ({marks})",
            (row["workflow_id"], *tmap.params(model)),
        )

    return Mapping(
        "repository", table, ("workflow_id",), ("workflow_id", *tmap.names), export, load
    )


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

    def load(conn: sqlite3.Connection, row: JsonObject) -> None:
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
        physical = ", ".join(p for _, p, _ in columns)
        marks = ", ".join("?" for _ in columns)
        conn.execute(f"INSERT INTO {table} ({physical}) VALUES ({marks})", values)

    physical_key = tuple(next(p for n, p, _ in columns if n == k) for k in key)
    return Mapping(component, table, physical_key, tuple(p for _, p, _ in columns), export, load)


def _item_load(conn: sqlite3.Connection, row: JsonObject) -> None:
    from orcheo_storage_sqlite.chat import search_text

    conn.execute(
        "INSERT INTO chat_items (id, thread_id, ordinal, created_at, item, search_text) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            row["id"],
            row["thread_id"],
            row["ordinal"],
            _stamp(row["created_at"]),
            dumps(row["item"]),
            search_text(row["item"]),
        ),
    )


def _cursor_load(conn: sqlite3.Connection, row: JsonObject) -> None:
    cursor = ListenerCursor.model_validate(row)
    conn.execute(
        "INSERT INTO listener_cursors (subscription_id, fields, metadata, updated_at) "
        "VALUES (?, ?, ?, ?)",
        (
            str(cursor.subscription_id),
            dumps(cursor.fields),
            dumps(cursor.metadata),
            ts(cursor.updated_at),
        ),
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
        _cursor_load,
    ),
    "listener_dedupe": _plain(
        "repository",
        "listener_dedupe",
        ("subscription_id", "dedupe_key"),
        (
            ("subscription_id", "subscription_id", "raw"),
            ("dedupe_key", "dedupe_key", "raw"),
            ("expires_at", "expires_at", "ts"),
        ),
    ),
    "remediation_candidates": _model_mapping("repository", CANDIDATES),
    "run_histories": Mapping(
        "repository",
        "run_histories",
        ("execution_id",),
        HISTORIES.names,
        _history_export,
        lambda conn, row: HISTORIES.insert_row(conn, HISTORIES.model.model_validate(row)),
    ),
    "run_history_steps": Mapping(
        "repository",
        "run_history_steps",
        ("execution_id", "step_index"),
        ("execution_id", "step_index", "at", "payload"),
        lambda r: {"execution_id": r[0], "index": r[1], "at": _iso(r[2]), "payload": jload(r[3])},
        _step_load,
    ),
    "service_tokens": _model_mapping("tokens", TOKENS),
    "service_token_audit": Mapping(
        "tokens",
        "service_token_audit",
        ("seq",),
        ("seq", *TOKEN_AUDIT.names),
        _audit_export,
        _audit_load,
    ),
    "agentensor_checkpoints": _model_mapping("repository", CHECKPOINTS),
    "vault_templates": _model_mapping("vault", TEMPLATES),
    "vault_credentials": Mapping(
        "vault",
        "vault_credentials",
        ("id",),
        CREDENTIAL_COLS,
        _credential_export,
        _credential_load,
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
        _item_load,
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
