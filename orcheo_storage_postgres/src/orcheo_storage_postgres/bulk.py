"""Bulk export/import of the logical tables (:mod:`orcheo_storage.migration.tables`).

Export streams each table through a server-side cursor (constant memory). Import writes a
batch with ``COPY`` and records its id in ``orcheo_migration_ledger`` in the same
transaction, so a killed import resumes exactly once. Per-parent counters (version,
step, item and checkpoint numbering) are raised to match imported rows in that
transaction too, so numbering continues gaplessly after a migration.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from orcheo_storage.errors import ValidationError
from orcheo_storage.jsoncodec import JsonObject, JsonValue
from orcheo_storage.migration.tables import TABLES_BY_NAME, key_values
from orcheo_storage.models.common import build
from orcheo_storage.models.vault import StoredCredential
from psycopg import errors as pg
from psycopg import sql

from orcheo_storage_postgres._copytext import write_rows
from orcheo_storage_postgres._db import Db, q_one
from orcheo_storage_postgres._errors import translated
from orcheo_storage_postgres._rows import plain
from orcheo_storage_postgres.bulk_changes import apply_batch, missing_parent
from orcheo_storage_postgres.bulk_fetch import fetch_by_key
from orcheo_storage_postgres.stores import _codecs as c

Row = dict[str, Any]


def _same(row: Row) -> Row:
    return row


@dataclass(frozen=True)
class _Spec:
    """How one logical table maps onto its physical table."""

    physical: str
    columns: tuple[str, ...]
    json: frozenset[str]
    order: str
    to_physical: Callable[[Row], Row] = _same
    to_logical: Callable[[Row], Row] = _same
    after_import: tuple[str, ...] = field(default_factory=tuple)
    parent: str | None = None


def _model_spec(
    codec: Any, order: str, after: tuple[str, ...] = (), parent: str | None = None
) -> _Spec:
    def validate(row: Row) -> Row:
        model = build(codec.model, **row)
        return {k: plain(v) for k, v in model.model_dump().items() if k in codec.columns}

    return _Spec(
        codec.table, codec.columns, codec.json_fields, order, validate, _same, after, parent
    )


def _credential_in(row: Row) -> Row:
    record = build(StoredCredential, **row)
    out = plain(record.credential.model_dump())
    out["secret"] = plain(record.secret.model_dump())
    out["oauth_tokens"] = (
        None if record.oauth_tokens is None else plain(record.oauth_tokens.model_dump())
    )
    return dict(out)


def _credential_out(row: Row) -> Row:
    cred = {k: v for k, v in row.items() if k not in ("secret", "oauth_tokens")}
    return {"credential": cred, "secret": row["secret"], "oauth_tokens": row["oauth_tokens"]}


def _iso_stamp(value: Any, column: str) -> str:
    """``value`` as an ISO-8601 timestamp with an offset (naive means UTC).

    PostgreSQL itself would also take words like ``'yesterday'`` or ``'epoch'`` for a
    TIMESTAMPTZ column; a logical row may only hold ISO-8601 text.

    Raises:
        ValidationError: the value is not an ISO-8601 timestamp.
    """
    try:
        stamp = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValidationError(
            f"not an ISO-8601 timestamp: {str(value)[:40]!r}", field=column
        ) from None
    return (stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)).isoformat()


def _stamped(columns: tuple[str, ...], inner: Callable[[Row], Row] = _same) -> Callable[[Row], Row]:
    """``inner``, then the timestamp ``columns`` checked and spelled with an offset."""

    def convert(row: Row) -> Row:
        out = inner(row)
        for column in columns:
            if out.get(column) is not None:
                out[column] = _iso_stamp(out[column], column)
        return out

    return convert


def _step_in(row: Row) -> Row:
    out = dict(row)
    out["step_index"] = out.pop("index")
    return out


def _step_out(row: Row) -> Row:
    out = dict(row)
    out["index"] = out.pop("step_index")
    return out


# Counter fix-ups, restricted to the parents touched by the batch (%(ids)s).
_VERSION_SEQ = (
    "UPDATE workflows w SET version_seq = m.v FROM (SELECT workflow_id, max(version) AS v "
    "FROM workflow_versions WHERE workflow_id = ANY(%(ids)s::uuid[]) GROUP BY workflow_id) m "
    "WHERE w.id = m.workflow_id AND w.version_seq < m.v"
)
_STEP_SEQ = (
    "UPDATE run_histories h SET step_count = m.n FROM (SELECT execution_id, "
    "max(step_index) + 1 AS n FROM run_history_steps WHERE execution_id = ANY(%(ids)s::text[]) "
    "GROUP BY execution_id) m WHERE h.execution_id = m.execution_id AND h.step_count < m.n"
)
_ITEM_SEQ = (
    "UPDATE chat_threads t SET item_seq = m.n FROM (SELECT thread_id, max(ordinal) + 1 AS n "
    "FROM chat_items WHERE thread_id = ANY(%(ids)s::text[]) GROUP BY thread_id) m "
    "WHERE t.id = m.thread_id AND t.item_seq < m.n"
)
_CHECKPOINT_SEQ = (
    "INSERT INTO agentensor_counters (workflow_id, last_version) SELECT workflow_id, "
    "max(config_version) FROM agentensor_checkpoints WHERE workflow_id = ANY(%(ids)s::text[]) "
    "GROUP BY workflow_id ON CONFLICT (workflow_id) DO UPDATE SET last_version = "
    "greatest(agentensor_counters.last_version, excluded.last_version)"
)
_AUDIT_SEQ = (
    "SELECT setval(pg_get_serial_sequence('service_token_audit', 'seq'), "
    "greatest((SELECT max(seq) FROM service_token_audit), 1))"
)

SPECS: dict[str, _Spec] = {
    "workflows": _model_spec(c.WORKFLOWS, "id"),
    "workflow_versions": _model_spec(c.VERSIONS, "id", (_VERSION_SEQ,), "workflow_id"),
    "workflow_runs": _model_spec(c.RUNS, "id"),
    "webhook_triggers": _Spec(
        "webhook_triggers", ("workflow_id", "config"), frozenset({"config"}), "workflow_id"
    ),
    "cron_triggers": _Spec(
        "cron_triggers", ("workflow_id", "config"), frozenset({"config"}), "workflow_id"
    ),
    "cron_dispatch": _Spec(
        "cron_dispatch",
        ("workflow_id", "last_dispatched_at"),
        frozenset(),
        "workflow_id",
        _stamped(("last_dispatched_at",)),
    ),
    "retry_policies": _Spec(
        "retry_policies", ("workflow_id", "policy"), frozenset({"policy"}), "workflow_id"
    ),
    "retry_attempts": _Spec("retry_attempts", ("run_id", "attempts"), frozenset(), "run_id"),
    "listener_subscriptions": _model_spec(c.SUBSCRIPTIONS, "id"),
    "listener_cursors": _model_spec(c.CURSORS, "subscription_id"),
    "listener_dedupe": _Spec(
        "listener_dedupe",
        ("subscription_id", "dedupe_key", "expires_at", "created_at"),
        frozenset(),
        "subscription_id, dedupe_key",
        _stamped(("expires_at", "created_at")),
    ),
    "remediation_candidates": _model_spec(c.CANDIDATES, "id"),
    "run_histories": _model_spec(c.HISTORIES, "execution_id"),
    "run_history_steps": _Spec(
        "run_history_steps",
        ("execution_id", "step_index", "at", "payload"),
        frozenset({"payload"}),
        "execution_id, step_index",
        _stamped(("at",), _step_in),
        _step_out,
        (_STEP_SEQ,),
        "execution_id",
    ),
    "service_tokens": _model_spec(c.TOKENS, "identifier"),
    "service_token_audit": _Spec(
        "service_token_audit",
        ("seq", *c.TOKEN_AUDIT.columns),
        frozenset({"details"}),
        "seq",
        after_import=(_AUDIT_SEQ,),
    ),
    "agentensor_checkpoints": _model_spec(c.CHECKPOINTS, "id", (_CHECKPOINT_SEQ,), "workflow_id"),
    "vault_templates": _model_spec(c.TEMPLATES, "id"),
    "vault_credentials": _Spec(
        "vault_credentials",
        (*c.CREDENTIALS.columns, "secret", "oauth_tokens"),
        frozenset({*c.CREDENTIALS.json_fields, "secret", "oauth_tokens"}),
        "id",
        _credential_in,
        _credential_out,
    ),
    "vault_alerts": _model_spec(c.ALERTS, "id"),
    "chat_threads": _Spec(
        "chat_threads",
        (
            "id",
            "title",
            "created_at",
            "updated_at",
            "status",
            "allowed_image_domains",
            "metadata",
            "workflow_id",
        ),
        frozenset({"status", "allowed_image_domains", "metadata"}),
        "id",
        _stamped(("created_at", "updated_at")),
    ),
    "chat_items": _Spec(
        "chat_items",
        ("id", "thread_id", "ordinal", "created_at", "item"),
        frozenset({"item"}),
        "thread_id, ordinal",
        _stamped(("created_at",)),
        after_import=(_ITEM_SEQ,),
        parent="thread_id",
    ),
    "chat_attachments": _Spec(
        "chat_attachments",
        ("id", "thread_id", "storage_path", "created_at", "attachment"),
        frozenset({"attachment"}),
        "id",
        _stamped(("created_at",)),
    ),
}

_LEDGER = (
    "INSERT INTO orcheo_migration_ledger (batch_id, table_name, row_count) VALUES (%s, %s, %s) "
    "ON CONFLICT (batch_id) DO NOTHING RETURNING batch_id"
)


def _native(value: Any) -> Any:
    """:func:`plain` for a native column value, the common types first."""
    kind = type(value)
    if value is None or kind is str or kind is int or kind is bool:
        return value
    if kind is datetime:
        return value.isoformat()
    if kind is uuid.UUID:
        return str(value)
    return plain(value)


def _spec(table: str) -> _Spec:
    if table not in SPECS or table not in TABLES_BY_NAME:
        raise ValidationError(f"unknown logical table {table!r}", field="table")
    return SPECS[table]


class PostgresBulkTransfer:
    """:class:`~orcheo_storage.protocols.backend.BulkTransfer` on PostgreSQL."""

    def __init__(self, db: Db) -> None:
        self._db = db

    async def export_rows(
        self, table: str, *, batch_size: int = 1000
    ) -> AsyncIterator[list[JsonObject]]:
        spec = _spec(table)
        query = sql.SQL("SELECT {} FROM {} ORDER BY " + spec.order).format(
            sql.SQL(", ").join(sql.Identifier(col) for col in spec.columns),
            sql.Identifier(spec.physical),
        )
        with translated():
            async with self._db.pool.connection() as conn, conn.transaction():
                cursor = conn.cursor(f"orcheo_export_{uuid.uuid4().hex}")
                try:
                    await cursor.execute(query)
                    while rows := await cursor.fetchmany(batch_size):
                        # JSON columns arrive decoded by the core codec: plain already.
                        yield [
                            spec.to_logical(
                                {k: v if k in spec.json else _native(v) for k, v in r.items()}
                            )
                            for r in rows
                        ]
                finally:
                    await cursor.close()

    async def count_rows(self, table: str) -> int:
        spec = _spec(table)
        row = await self._db.one(
            sql.SQL("SELECT count(*) AS n FROM {}").format(sql.Identifier(spec.physical))
        )
        assert row is not None
        return int(row["n"])

    async def import_batch(self, table: str, rows: list[JsonObject], *, batch_id: str) -> bool:
        spec = _spec(table)
        physical = [spec.to_physical(dict(r)) for r in rows]
        copy = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(spec.physical),
            sql.SQL(", ").join(sql.Identifier(col) for col in spec.columns),
        )
        async with self._db.transaction() as conn:
            if await q_one(conn, _LEDGER, (batch_id, table, len(rows))) is None:
                return False
            # One payload in the COPY text format; rows of other value types go through
            # psycopg's adaptation row by row, as before.
            try:
                async with conn.cursor() as cur, cur.copy(copy) as writer:
                    await write_rows(writer, physical, spec.columns, spec.json)
            except pg.ForeignKeyViolation as exc:  # a bad row for the migration, typed
                raise missing_parent(table, exc) from None
            ids = sorted({str(r[spec.parent]) for r in physical}) if spec.parent else []
            for statement in spec.after_import:
                await conn.execute(statement, {"ids": ids} if spec.parent else None)
        return True

    async def apply_changes(
        self,
        table: str,
        upserts: list[JsonObject],
        deletes: list[list[JsonValue]],
        *,
        batch_id: str,
    ) -> bool:
        """Deletes, then in-place upserts, with the ledger row (see :mod:`.bulk_changes`)."""
        spec = _spec(table)
        return await apply_batch(self._db, table, spec, upserts, deletes, batch_id=batch_id)

    async def fetch_rows(self, table: str, keys: list[list[JsonValue]]) -> list[JsonObject]:
        """The logical rows whose key is one of ``keys`` (absent keys are skipped)."""
        spec = _spec(table)
        checked = [key_values(table, key) for key in keys]
        rows = await fetch_by_key(self._db, spec.physical, spec.columns, spec.order, checked)
        return [spec.to_logical(r) for r in rows]

    async def imported_batches(self) -> set[str]:
        rows = await self._db.all("SELECT batch_id FROM orcheo_migration_ledger")
        return {str(r["batch_id"]) for r in rows}
