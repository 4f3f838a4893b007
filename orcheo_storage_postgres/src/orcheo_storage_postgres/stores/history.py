"""Run history on PostgreSQL: records plus steps with gapless indexes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orcheo_storage.clock import utcnow
from orcheo_storage.errors import DuplicateError, ExecutionNotFoundError
from orcheo_storage.jsoncodec import dumps
from orcheo_storage.models.common import Page
from orcheo_storage.models.history import HistoryStatus, RunHistoryRecord, RunHistoryStep
from orcheo_storage.rules import history as rules
from orcheo_storage.rules.pagination import (
    check_after_index,
    check_limit,
    decode_time_cursor,
    encode_cursor,
)
from psycopg.types.json import Json

from orcheo_storage_postgres._db import Db, q_all, q_one
from orcheo_storage_postgres._errors import UniqueViolation
from orcheo_storage_postgres.stores._codecs import HISTORIES

_GET = HISTORIES.select("execution_id = %(id)s")
_GET_FOR_UPDATE = HISTORIES.select("execution_id = %(id)s", "FOR UPDATE")
_UPDATE = HISTORIES.update_all("execution_id", skip=("started_at",))
# One statement: bump the record's step counter (row lock serialises concurrent appenders in
# any process) and insert the step with the previous value as its index.
_APPEND = """
WITH h AS (
    UPDATE run_histories SET step_count = step_count + 1, trace_last_span_at = %(at)s
    WHERE execution_id = %(id)s RETURNING step_count - 1 AS step_index
)
INSERT INTO run_history_steps (execution_id, step_index, at, payload)
SELECT %(id)s, h.step_index, %(at)s, %(payload)s FROM h
RETURNING step_index
"""
_STEPS = (
    "SELECT step_index, at, payload FROM run_history_steps WHERE execution_id = %(id)s "
    "AND step_index > %(after)s ORDER BY step_index LIMIT %(n)s"
)
_ALL_STEPS = (
    "SELECT step_index, at, payload FROM run_history_steps WHERE execution_id = %(id)s "
    "ORDER BY step_index"
)
_EXISTS = "SELECT 1 FROM run_histories WHERE execution_id = %s"
_LIST = HISTORIES.select(
    "workflow_id = %(wf)s", "ORDER BY started_at DESC, execution_id DESC LIMIT %(n)s"
)
_LIST_AFTER = HISTORIES.select(
    "workflow_id = %(wf)s AND (started_at, execution_id) < (%(at)s, %(eid)s)",
    "ORDER BY started_at DESC, execution_id DESC LIMIT %(n)s",
)


def _step(row: dict[str, Any]) -> RunHistoryStep:
    return RunHistoryStep.model_validate(
        {"index": row["step_index"], "at": row["at"], "payload": row["payload"]}
    )


class PostgresHistoryStore:
    """:class:`~orcheo_storage.protocols.history.HistoryStore` on PostgreSQL."""

    def __init__(self, db: Db) -> None:
        self._db = db

    async def start_run(
        self,
        *,
        execution_id: str,
        workflow_id: str,
        inputs: Any = None,
        runnable_config: Any = None,
        tags: list[str] | None = None,
        callbacks: list[Any] | None = None,
        metadata: Any = None,
        run_name: str | None = None,
        trace_id: str | None = None,
        trace_started_at: datetime | None = None,
    ) -> RunHistoryRecord:
        record = rules.new_record(
            execution_id=execution_id,
            workflow_id=workflow_id,
            now=utcnow(),
            inputs=inputs,
            runnable_config=runnable_config,
            tags=tags,
            callbacks=callbacks,
            metadata=metadata,
            run_name=run_name,
            trace_id=trace_id,
            trace_started_at=trace_started_at,
        )
        try:
            await self._db.run(HISTORIES.insert_sql, HISTORIES.params(record))
        except UniqueViolation:
            raise DuplicateError("run history", execution_id) from None
        return record

    async def append_step(self, execution_id: str, payload: Any) -> RunHistoryStep:
        # Built first (JSON-safe, validated) so a rejected payload writes nothing.
        step = rules.new_step(0, payload, utcnow())
        row = await self._db.one(
            _APPEND, {"id": execution_id, "at": step.at, "payload": Json(step.payload, dumps)}
        )
        if row is None:
            raise ExecutionNotFoundError(execution_id)
        return step.model_copy(update={"index": int(row["step_index"])})

    async def _finish(
        self, execution_id: str, status: HistoryStatus, error: str | None
    ) -> RunHistoryRecord:
        async with self._db.transaction() as conn:
            row = await q_one(conn, _GET_FOR_UPDATE, {"id": execution_id})
            if row is None:
                raise ExecutionNotFoundError(execution_id)
            done = rules.finish(HISTORIES.load(row), status, now=utcnow(), error=error)
            await conn.execute(_UPDATE, HISTORIES.params(done))
            steps = await q_all(conn, _ALL_STEPS, {"id": execution_id})
        # Returned like get_history: the record with its steps.
        return done.model_copy(update={"steps": [_step(s) for s in steps]}) if steps else done

    async def mark_completed(self, execution_id: str) -> RunHistoryRecord:
        return await self._finish(execution_id, HistoryStatus.COMPLETED, None)

    async def mark_failed(self, execution_id: str, error: str) -> RunHistoryRecord:
        return await self._finish(execution_id, HistoryStatus.ERROR, error)

    async def mark_cancelled(
        self, execution_id: str, *, reason: str | None = None
    ) -> RunHistoryRecord:
        return await self._finish(execution_id, HistoryStatus.CANCELLED, reason)

    async def get_history(
        self, execution_id: str, *, include_steps: bool = True
    ) -> RunHistoryRecord:
        async with self._db.connection() as conn:
            row = await q_one(conn, _GET, {"id": execution_id})
            if row is None:
                raise ExecutionNotFoundError(execution_id)
            steps = await q_all(conn, _ALL_STEPS, {"id": execution_id}) if include_steps else []
        record = HISTORIES.load(row)
        if not steps:
            return record
        return record.model_copy(update={"steps": [_step(s) for s in steps]})

    async def list_steps(
        self, execution_id: str, *, after_index: int = -1, limit: int = 500
    ) -> list[RunHistoryStep]:
        check_limit(limit)
        check_after_index(after_index)
        async with self._db.connection() as conn:
            rows = await q_all(conn, _STEPS, {"id": execution_id, "after": after_index, "n": limit})
            if not rows and await q_one(conn, _EXISTS, (execution_id,)) is None:
                raise ExecutionNotFoundError(execution_id)
        return [_step(r) for r in rows]

    async def list_histories(
        self, workflow_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> Page[RunHistoryRecord]:
        check_limit(limit)
        params: dict[str, Any] = {"wf": workflow_id, "n": limit + 1}
        query = _LIST
        after = decode_time_cursor(cursor)
        if after is not None:
            params.update(at=after[0], eid=after[1])
            query = _LIST_AFTER
        rows = await self._db.read_all(query, params)
        items = [HISTORIES.load(r) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = items[-1]
            next_cursor = encode_cursor(last.started_at.isoformat(), last.execution_id)
        return Page[RunHistoryRecord](items=items, next_cursor=next_cursor)
