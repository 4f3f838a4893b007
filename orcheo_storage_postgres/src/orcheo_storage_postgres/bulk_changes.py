"""``apply_changes`` on PostgreSQL: one batch of deletes and in-place upserts, exactly once.

One transaction holds the batch's ledger row, its deletes and its upserts, so a failing
row leaves nothing behind (ledger row included) and a replayed ``batch_id`` changes nothing.

- Deletes: ``DELETE ... WHERE key = ANY(...)`` (one key column) or ``WHERE (k1, k2) IN
  (SELECT * FROM unnest(...))``, each array cast to its column's own type (looked up in
  the catalog once per table) so the key index is used.
- Upserts: rows are validated and mapped by :data:`~orcheo_storage_postgres.bulk.SPECS`
  exactly as ``import_batch`` maps them, ``COPY``-ed into a temporary table (``ON COMMIT
  DROP``) with the target's column types, then merged with ``INSERT ... SELECT ... ON
  CONFLICT (<key>) DO UPDATE SET <every other column> = EXCLUDED.<column>``: a row is
  updated in place, so rows referencing it survive, and the counter columns a logical row
  does not carry (``version_seq``, ``step_count``, ``item_seq``) keep their value.
- Counters: the spec's ``after_import`` statements (they only ever raise a counter); the
  token audit sequence with a guarded ``setval`` that never moves it back, since deletes
  may have removed the highest ``seq``.
- Errors: a row the target refuses is a typed "bad row" error, as the migration expects:
  a foreign key violation is ``NotFoundError`` for an upsert (its parent is missing) and
  ``ConflictError`` for a delete (the row is still referenced).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from orcheo_storage.errors import ConflictError, DuplicateError, NotFoundError, ValidationError
from orcheo_storage.jsoncodec import JsonObject, JsonValue
from orcheo_storage.migration.tables import key_values
from psycopg import errors as pg
from psycopg import sql

from orcheo_storage_postgres._copytext import write_rows
from orcheo_storage_postgres._db import Conn, Db, q_one
from orcheo_storage_postgres._keys import key_match, key_params, key_types

if TYPE_CHECKING:
    from orcheo_storage_postgres.bulk import _Spec

Row = dict[str, Any]

_LEDGER = (
    "INSERT INTO orcheo_migration_ledger (batch_id, table_name, row_count) VALUES (%s, %s, %s) "
    "ON CONFLICT (batch_id) DO NOTHING RETURNING batch_id"
)
# Raises the audit sequence to the highest stored seq, never lowers it (import_batch's
# ``setval(max(seq))`` would move it back after the highest rows were deleted).
_AUDIT_SEQ_RAISE = (
    "SELECT setval(s.name, m.seq) FROM "
    "(SELECT pg_get_serial_sequence('service_token_audit', 'seq') AS name) s, "
    "(SELECT max(seq) AS seq FROM service_token_audit) m "
    "WHERE m.seq > coalesce(pg_sequence_last_value(s.name::regclass), 0)"
)
_AUDIT_TABLE = "service_token_audit"
_TEMP = sql.Identifier("orcheo_changes")


def key_columns(spec: _Spec) -> tuple[str, ...]:
    """The physical key columns of a spec (its export order, the logical key's order)."""
    return tuple(part.strip() for part in spec.order.split(","))


def missing_parent(table: str, exc: pg.ForeignKeyViolation) -> NotFoundError:
    """A foreign key violation on insert as the typed bad-row error the migration expects."""
    constraint = exc.diag.constraint_name
    return NotFoundError(constraint, f"{table}: a referenced row is missing ({constraint})")


def _hashable(value: Any) -> Any:
    return value if isinstance(value, str | int | None) else repr(value)


def prepare_upserts(table: str, spec: _Spec, upserts: list[JsonObject]) -> list[Row]:
    """Validate and map every upsert (as ``import_batch`` does); refuse a key given twice.

    Raises:
        ValidationError: a row is malformed.
        DuplicateError: two rows share a key.
    """
    key = key_columns(spec)
    physical: list[Row] = []
    seen: set[tuple[Any, ...]] = set()
    for row in upserts:
        if not isinstance(row, dict):
            raise ValidationError("a row must be a JSON object", field=table)
        mapped = spec.to_physical(dict(row))
        own = tuple(_hashable(mapped.get(column)) for column in key)
        if own in seen:
            raise DuplicateError(f"{table} row", ", ".join(str(part) for part in own))
        seen.add(own)
        physical.append(mapped)
    return physical


async def apply_batch(
    db: Db,
    table: str,
    spec: _Spec,
    upserts: list[JsonObject],
    deletes: list[list[JsonValue]],
    *,
    batch_id: str,
) -> bool:
    """Apply one batch to ``spec``'s table; ``False`` when ``batch_id`` is in the ledger.

    Raises:
        ValidationError / ConflictError / StorageError: as ``import_batch`` for a bad row
            (nothing of the batch stays); ``ValidationError`` for a malformed key.
    """
    key = key_columns(spec)
    doomed = [tuple(str(p) for p in key_values(table, item, field="deletes")) for item in deletes]
    physical = prepare_upserts(table, spec, upserts)
    async with db.transaction() as conn:
        if await q_one(conn, _LEDGER, (batch_id, table, len(physical) + len(doomed))) is None:
            return False
        if doomed:
            await _delete(conn, spec, key, doomed)
        if physical:
            await _upsert(conn, table, spec, key, physical)
            await _raise_counters(conn, table, spec, physical)
    return True


async def _delete(
    conn: Conn, spec: _Spec, key: Sequence[str], doomed: list[tuple[str, ...]]
) -> None:
    types = await key_types(conn, spec.physical, key)
    query = sql.SQL("DELETE FROM {} WHERE {}").format(
        sql.Identifier(spec.physical), key_match(key, types)
    )
    try:
        await conn.execute(query, key_params(len(key), doomed))
    except pg.ForeignKeyViolation as exc:
        raise ConflictError(
            f"{spec.physical} rows are still referenced ({exc.diag.constraint_name})"
        ) from None


async def _upsert(
    conn: Conn, table: str, spec: _Spec, key: Sequence[str], physical: list[Row]
) -> None:
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in spec.columns)
    target = sql.Identifier(spec.physical)
    await conn.execute(
        sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
            _TEMP, columns, target
        )
    )
    copy = sql.SQL("COPY {} ({}) FROM STDIN").format(_TEMP, columns)
    async with conn.cursor() as cur, cur.copy(copy) as writer:
        await write_rows(writer, physical, spec.columns, spec.json)
    others = [c for c in spec.columns if c not in key]
    action = (
        sql.SQL("DO UPDATE SET {}").format(
            sql.SQL(", ").join(
                sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c))
                for c in others
            )
        )
        if others
        else sql.SQL("DO NOTHING")
    )
    merge = sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT ({}) {}").format(
        target,
        columns,
        columns,
        _TEMP,
        sql.SQL(", ").join(sql.Identifier(c) for c in key),
        action,
    )
    try:
        await conn.execute(merge)
    except pg.CardinalityViolation:  # one key spelled two ways (e.g. UUID letter case)
        raise DuplicateError(f"{table} row", "a key given twice in one batch") from None
    except pg.ForeignKeyViolation as exc:
        raise missing_parent(table, exc) from None


async def _raise_counters(conn: Conn, table: str, spec: _Spec, physical: list[Row]) -> None:
    statements = (_AUDIT_SEQ_RAISE,) if table == _AUDIT_TABLE else spec.after_import
    ids = sorted({str(r[spec.parent]) for r in physical}) if spec.parent else []
    for statement in statements:
        await conn.execute(statement, {"ids": ids} if spec.parent else None)
