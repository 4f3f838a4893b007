"""Logical-table rows (see :mod:`orcheo_storage.migration.tables`) for the non-chat tables.

Each :class:`TableSpec` exports a table's rows in key order and parses rows back into
stored entities. Parsing validates everything before anything is written, so an
``import_batch`` either applies whole or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

from pydantic import BaseModel, TypeAdapter

from orcheo_storage.clock import ensure_utc
from orcheo_storage.errors import ValidationError
from orcheo_storage.jsoncodec import JsonObject, JsonValue, normalise_object
from orcheo_storage.memory._state import MemoryState
from orcheo_storage.models.agentensor import AgentensorCheckpoint
from orcheo_storage.models.common import build
from orcheo_storage.models.history import RunHistoryRecord, RunHistoryStep
from orcheo_storage.models.listeners import ListenerCursor, ListenerSubscription
from orcheo_storage.models.remediations import RemediationCandidate
from orcheo_storage.models.tokens import ServiceToken, TokenAuditEvent
from orcheo_storage.models.triggers import CronConfig, RetryPolicy
from orcheo_storage.models.vault import CredentialTemplate, GovernanceAlert, StoredCredential
from orcheo_storage.models.workflows import Workflow, WorkflowRun, WorkflowVersion

M = TypeVar("M", bound=BaseModel)
_DATETIME = TypeAdapter(datetime)


@dataclass(frozen=True)
class TableSpec:
    """How one logical table maps onto a session's state."""

    export: Callable[[MemoryState], list[JsonObject]]
    parse: Callable[[JsonObject], Any]
    key: Callable[[Any], Hashable]
    exists: Callable[[MemoryState, Hashable], bool]
    put: Callable[[MemoryState, Any], None]


# --- row encoding ------------------------------------------------------------------------------


def _keep_decimals(py: Any, js: Any) -> Any:
    # ``model_dump(mode="json")`` turns Decimals into strings; put the exact Decimal back
    # so big and exact numbers round-trip through the JSON codec unchanged.
    if isinstance(py, Decimal):
        return py
    if isinstance(py, dict) and isinstance(js, dict):
        return {k: _keep_decimals(py.get(k), v) for k, v in js.items()}
    if isinstance(py, list | tuple) and isinstance(js, list):
        return [_keep_decimals(p, j) for p, j in zip(py, js, strict=False)]
    return js


def to_row(model: BaseModel, *, exclude: set[str] | None = None, **extra: JsonValue) -> JsonObject:
    """``model_dump(mode="json")`` with exact Decimals, plus the ``extra`` columns."""
    row: JsonObject = _keep_decimals(
        model.model_dump(mode="python", exclude=exclude),
        model.model_dump(mode="json", exclude=exclude),
    )
    row.update(extra)
    return row


def stamp(value: datetime) -> str:
    """A timestamp in the same JSON form pydantic gives model fields."""
    text: str = _DATETIME.dump_python(value, mode="json")
    return text


def column(row: JsonObject, name: str) -> Any:
    if name not in row:
        raise ValidationError(f"row lacks column {name!r}", field=name)
    return row[name]


def uuid_col(row: JsonObject, name: str) -> UUID:
    try:
        return UUID(str(column(row, name)))
    except ValueError:
        raise ValidationError(f"column {name!r} is not a UUID", field=name) from None


def time_col(row: JsonObject, name: str) -> datetime:
    try:
        return ensure_utc(_DATETIME.validate_python(column(row, name)), name)
    except ValueError:
        raise ValidationError(f"column {name!r} is not a timestamp", field=name) from None


def parse_model(model: type[M]) -> Callable[[JsonObject], M]:
    def parse(row: JsonObject) -> M:
        return build(model, **row)

    return parse


def _sorted(rows: list[JsonObject], *cols: str) -> list[JsonObject]:
    return sorted(rows, key=lambda r: tuple(r[c] for c in cols))


# --- specs -------------------------------------------------------------------------------------


def _model_table(
    attr: str,
    model: type[M],
    key: Callable[[M], Any],
    *,
    key_col: str = "id",
    putter: Callable[[MemoryState, Any], None] | None = None,
) -> TableSpec:
    """A table whose rows are one model each, stored in ``state.<attr>`` by ``key``."""

    def export(state: MemoryState) -> list[JsonObject]:
        return _sorted([to_row(m) for m in getattr(state, attr).values()], key_col)

    def put(state: MemoryState, entity: Any) -> None:
        getattr(state, attr)[key(entity)] = entity

    return TableSpec(
        export=export,
        parse=parse_model(model),
        key=key,
        exists=lambda state, k: k in getattr(state, attr),
        put=putter or put,
    )


def _config_table(attr: str, field: str, model: type[M]) -> TableSpec:
    """``{workflow_id, <field>: model}`` tables (cron configs, retry policies)."""

    def export(state: MemoryState) -> list[JsonObject]:
        rows: list[JsonObject] = [
            {"workflow_id": str(wid), field: to_row(cfg)}
            for wid, cfg in getattr(state, attr).items()
        ]
        return _sorted(rows, "workflow_id")

    def parse(row: JsonObject) -> tuple[UUID, M]:
        body = column(row, field)
        if not isinstance(body, dict):
            raise ValidationError(f"column {field!r} must be an object", field=field)
        return uuid_col(row, "workflow_id"), build(model, **body)

    def put(state: MemoryState, entry: tuple[UUID, M]) -> None:
        getattr(state, attr)[entry[0]] = entry[1]

    return TableSpec(
        export=export,
        parse=parse,
        key=lambda entry: entry[0],
        exists=lambda state, k: k in getattr(state, attr),
        put=put,
    )


def _webhooks() -> TableSpec:
    def export(state: MemoryState) -> list[JsonObject]:
        rows: list[JsonObject] = [
            {"workflow_id": str(wid), "config": dict(doc)} for wid, doc in state.webhooks.items()
        ]
        return _sorted(rows, "workflow_id")

    def parse(row: JsonObject) -> tuple[UUID, JsonObject]:
        return uuid_col(row, "workflow_id"), normalise_object(column(row, "config"), "config")

    def put(state: MemoryState, entry: tuple[UUID, JsonObject]) -> None:
        state.webhooks[entry[0]] = entry[1]

    return TableSpec(export, parse, lambda e: e[0], lambda s, k: k in s.webhooks, put)


def _cron_dispatch() -> TableSpec:
    def export(state: MemoryState) -> list[JsonObject]:
        rows: list[JsonObject] = [
            {"workflow_id": str(wid), "last_dispatched_at": stamp(at)}
            for wid, at in state.cron_dispatch.items()
        ]
        return _sorted(rows, "workflow_id")

    def parse(row: JsonObject) -> tuple[UUID, datetime]:
        return uuid_col(row, "workflow_id"), time_col(row, "last_dispatched_at")

    def put(state: MemoryState, entry: tuple[UUID, datetime]) -> None:
        state.cron_dispatch[entry[0]] = entry[1]

    return TableSpec(export, parse, lambda e: e[0], lambda s, k: k in s.cron_dispatch, put)


def _retry_attempts() -> TableSpec:
    def export(state: MemoryState) -> list[JsonObject]:
        rows: list[JsonObject] = [
            {"run_id": str(rid), "attempts": n} for rid, n in state.retry_attempts.items()
        ]
        return _sorted(rows, "run_id")

    def parse(row: JsonObject) -> tuple[UUID, int]:
        attempts = column(row, "attempts")
        if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 0:
            raise ValidationError("attempts must be a non-negative integer", field="attempts")
        return uuid_col(row, "run_id"), attempts

    def put(state: MemoryState, entry: tuple[UUID, int]) -> None:
        state.retry_attempts[entry[0]] = entry[1]

    return TableSpec(export, parse, lambda e: e[0], lambda s, k: k in s.retry_attempts, put)


def _dedupe() -> TableSpec:
    def export(state: MemoryState) -> list[JsonObject]:
        rows: list[JsonObject] = [
            {
                "subscription_id": str(sid),
                "dedupe_key": key,
                "expires_at": stamp(exp),
                "created_at": None if created is None else stamp(created),
            }
            for (sid, key), (exp, created) in state.dedupe.items()
        ]
        return _sorted(rows, "subscription_id", "dedupe_key")

    def parse(
        row: JsonObject,
    ) -> tuple[tuple[UUID, str], tuple[datetime, datetime | None]]:
        key = column(row, "dedupe_key")
        if not isinstance(key, str):
            raise ValidationError("dedupe_key must be a string", field="dedupe_key")
        created = None if row.get("created_at") is None else time_col(row, "created_at")
        return (uuid_col(row, "subscription_id"), key), (time_col(row, "expires_at"), created)

    def put(
        state: MemoryState, entry: tuple[tuple[UUID, str], tuple[datetime, datetime | None]]
    ) -> None:
        state.dedupe[entry[0]] = entry[1]

    return TableSpec(export, parse, lambda e: e[0], lambda s, k: k in s.dedupe, put)


def _histories() -> TableSpec:
    def export(state: MemoryState) -> list[JsonObject]:
        rows = [to_row(r, exclude={"steps"}) for r in state.histories.values()]
        return _sorted(rows, "execution_id")

    def parse(row: JsonObject) -> RunHistoryRecord:
        return build(RunHistoryRecord, **{k: v for k, v in row.items() if k != "steps"})

    def put(state: MemoryState, record: RunHistoryRecord) -> None:
        state.put_history(record)

    return TableSpec(export, parse, lambda r: r.execution_id, lambda s, k: k in s.histories, put)


def _steps() -> TableSpec:
    def export(state: MemoryState) -> list[JsonObject]:
        rows = [
            to_row(step, execution_id=eid)
            for eid in sorted(state.steps)
            for step in state.steps[eid]
        ]
        return _sorted(rows, "execution_id", "index")

    def parse(row: JsonObject) -> tuple[str, RunHistoryStep]:
        eid = column(row, "execution_id")
        if not isinstance(eid, str):
            raise ValidationError("execution_id must be a string", field="execution_id")
        fields = {k: v for k, v in row.items() if k != "execution_id"}
        return eid, build(RunHistoryStep, **fields)

    def exists(state: MemoryState, key: Hashable) -> bool:
        assert isinstance(key, tuple)
        eid, index = key
        return any(s.index == index for s in state.steps.get(str(eid), []))

    def put(state: MemoryState, entry: tuple[str, RunHistoryStep]) -> None:
        steps = state.steps.setdefault(entry[0], [])
        steps.append(entry[1])
        steps.sort(key=lambda s: s.index)

    return TableSpec(export, parse, lambda e: (e[0], e[1].index), exists, put)


def _tokens() -> TableSpec:
    def put(state: MemoryState, token: ServiceToken) -> None:
        state.tokens[token.identifier] = token
        state.token_hashes[token.secret_hash] = token.identifier

    return TableSpec(
        export=_model_table("tokens", ServiceToken, _identifier, key_col="identifier").export,
        parse=parse_model(ServiceToken),
        # Keyed by identifier only, so a duplicate's error never shows a secret hash.
        key=_identifier,
        exists=lambda state, k: k in state.tokens,
        put=put,
    )


def _identifier(token: ServiceToken) -> str:
    return token.identifier


def _token_audit() -> TableSpec:
    def export(state: MemoryState) -> list[JsonObject]:
        return [to_row(event, seq=seq) for seq, event in sorted(state.token_audit, key=_first)]

    def parse(row: JsonObject) -> tuple[int, TokenAuditEvent]:
        seq = column(row, "seq")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise ValidationError("seq must be a positive integer", field="seq")
        return seq, build(TokenAuditEvent, **{k: v for k, v in row.items() if k != "seq"})

    def put(state: MemoryState, entry: tuple[int, TokenAuditEvent]) -> None:
        state.token_audit.append(entry)
        state.token_audit_seq = max(state.token_audit_seq, entry[0])

    return TableSpec(
        export,
        parse,
        lambda e: e[0],
        lambda s, k: any(seq == k for seq, _ in s.token_audit),
        put,
    )


def _first(entry: tuple[int, Any]) -> int:
    return entry[0]


def _credentials() -> TableSpec:
    def export(state: MemoryState) -> list[JsonObject]:
        # The logical row is exactly the StoredCredential dump; its key is credential.id.
        records = sorted(state.credentials.values(), key=lambda r: str(r.credential.id))
        return [to_row(r) for r in records]

    def parse(row: JsonObject) -> StoredCredential:
        return build(StoredCredential, **row)

    def put(state: MemoryState, record: StoredCredential) -> None:
        state.credentials[record.credential.id] = record

    return TableSpec(export, parse, lambda r: r.credential.id, lambda s, k: k in s.credentials, put)


CORE_TABLES: dict[str, TableSpec] = {
    "workflows": _model_table(
        "workflows", Workflow, lambda m: m.id, putter=lambda s, m: s.put_workflow(m)
    ),
    "workflow_versions": _model_table(
        "versions", WorkflowVersion, lambda m: m.id, putter=lambda s, m: s.put_version(m)
    ),
    "workflow_runs": _model_table(
        "runs", WorkflowRun, lambda m: m.id, putter=lambda s, m: s.put_run(m)
    ),
    "webhook_triggers": _webhooks(),
    "cron_triggers": _config_table("crons", "config", CronConfig),
    "cron_dispatch": _cron_dispatch(),
    "retry_policies": _config_table("retry_policies", "policy", RetryPolicy),
    "retry_attempts": _retry_attempts(),
    "listener_subscriptions": _model_table("subscriptions", ListenerSubscription, lambda m: m.id),
    "listener_cursors": _model_table(
        "cursors", ListenerCursor, lambda m: m.subscription_id, key_col="subscription_id"
    ),
    "listener_dedupe": _dedupe(),
    "remediation_candidates": _model_table("candidates", RemediationCandidate, lambda m: m.id),
    "run_histories": _histories(),
    "run_history_steps": _steps(),
    "service_tokens": _tokens(),
    "service_token_audit": _token_audit(),
    "agentensor_checkpoints": _model_table("checkpoints", AgentensorCheckpoint, lambda m: m.id),
    "vault_templates": _model_table("templates", CredentialTemplate, lambda m: m.id),
    "vault_credentials": _credentials(),
    "vault_alerts": _model_table("alerts", GovernanceAlert, lambda m: m.id),
}
