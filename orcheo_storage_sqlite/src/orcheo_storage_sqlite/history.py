"""The SQLite run-history store: execution records and their gapless steps."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from orcheo_storage.clock import optional_utc, utcnow
from orcheo_storage.errors import DuplicateError, ExecutionNotFoundError
from orcheo_storage.models.common import Page
from orcheo_storage.models.history import HistoryStatus, RunHistoryRecord, RunHistoryStep
from orcheo_storage.rules import history as history_rules
from orcheo_storage.rules.pagination import check_after_index, check_limit

from orcheo_storage_sqlite._shared import decode_time_cursor, time_cursor
from orcheo_storage_sqlite.codec import from_ts, jdump, jload, ts
from orcheo_storage_sqlite.engine import Database
from orcheo_storage_sqlite.tables import HISTORIES

# The next index comes from the record's step_count, bumped in the same transaction
# under the write lock; the (execution_id, step_index) primary key backs it up.
_BUMP = """UPDATE run_histories SET step_count = step_count + 1, trace_last_span_at = ?
WHERE execution_id = ? RETURNING step_count - 1"""
_INSERT_STEP = (
    "INSERT INTO run_history_steps (execution_id, step_index, at, payload) VALUES (?, ?, ?, ?)"
)
_STEPS = """SELECT step_index, at, payload FROM run_history_steps
WHERE execution_id = ? AND step_index > ? ORDER BY step_index LIMIT ?"""
_ALL_STEPS = """SELECT step_index, at, payload FROM run_history_steps
WHERE execution_id = ? ORDER BY step_index"""
_EXISTS = "SELECT 1 FROM run_histories WHERE execution_id = ?"
_FIRST = "WHERE workflow_id = ? ORDER BY started_at DESC, execution_id DESC LIMIT ?"
_AFTER = """WHERE workflow_id = ? AND (started_at, execution_id) < (?, ?)
ORDER BY started_at DESC, execution_id DESC LIMIT ?"""


def _step(row: tuple[Any, ...]) -> RunHistoryStep:
    return RunHistoryStep.model_validate(
        {"index": row[0], "at": from_ts(row[1]), "payload": jload(row[2])}
    )


def _require(conn: sqlite3.Connection, execution_id: str) -> RunHistoryRecord:
    record = HISTORIES.fetch_one(conn, "execution_id = ?", (execution_id,))
    if record is None:
        raise ExecutionNotFoundError(execution_id)
    return record


def _with_steps(conn: sqlite3.Connection, record: RunHistoryRecord) -> RunHistoryRecord:
    steps = [_step(r) for r in conn.execute(_ALL_STEPS, (record.execution_id,)).fetchall()]
    return record.model_copy(update={"steps": steps})


class SqliteHistoryStore:
    """:class:`~orcheo_storage.protocols.history.HistoryStore` on the repository file."""

    def __init__(self, db: Database) -> None:
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
        record = history_rules.new_record(
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
            trace_started_at=optional_utc(trace_started_at, "trace_started_at"),
        )
        params = HISTORIES.params(record)

        def job(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(HISTORIES.insert, params)
            except sqlite3.IntegrityError:
                raise DuplicateError("run history", record.execution_id) from None

        await self._db.write(job)
        return record

    async def append_step(self, execution_id: str, payload: Any) -> RunHistoryStep:
        now = utcnow()
        # Hostile input is rejected before the lookup (contract: test_history).
        probe = history_rules.new_step(0, payload, now)
        text = jdump(probe.payload)
        stamp = ts(now)

        def job(conn: sqlite3.Connection) -> int:
            row = conn.execute(_BUMP, (stamp, execution_id)).fetchone()
            if row is None:
                raise ExecutionNotFoundError(execution_id)
            conn.execute(_INSERT_STEP, (execution_id, row[0], stamp, text))
            return int(row[0])

        index = await self._db.write(job)
        return probe.model_copy(update={"index": index})

    async def _finish(
        self, execution_id: str, status: HistoryStatus, error: str | None
    ) -> RunHistoryRecord:
        def job(conn: sqlite3.Connection) -> RunHistoryRecord:
            record = _require(conn, execution_id)
            finished = history_rules.finish(record, status, now=utcnow(), error=error)
            HISTORIES.update_row(conn, finished)
            return _with_steps(conn, finished)

        return await self._db.write(job)

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
        def job(conn: sqlite3.Connection) -> RunHistoryRecord:
            record = _require(conn, execution_id)
            return _with_steps(conn, record) if include_steps else record

        return await self._db.read(job, snapshot=include_steps)

    async def list_steps(
        self, execution_id: str, *, after_index: int = -1, limit: int = 500
    ) -> list[RunHistoryStep]:
        check_limit(limit)
        check_after_index(after_index)

        def job(conn: sqlite3.Connection) -> list[RunHistoryStep]:
            if conn.execute(_EXISTS, (execution_id,)).fetchone() is None:
                raise ExecutionNotFoundError(execution_id)
            rows = conn.execute(_STEPS, (execution_id, after_index, limit)).fetchall()
            return [_step(r) for r in rows]

        return await self._db.read(job, snapshot=True)

    async def list_histories(
        self, workflow_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> Page[RunHistoryRecord]:
        check_limit(limit)
        after = decode_time_cursor(cursor)

        def job(conn: sqlite3.Connection) -> list[RunHistoryRecord]:
            if after is None:
                return HISTORIES.fetch_all(conn, _FIRST, (workflow_id, limit + 1))
            return HISTORIES.fetch_all(conn, _AFTER, (workflow_id, *after, limit + 1))

        records = await self._db.read(job)
        next_cursor = None
        if len(records) > limit:
            records = records[:limit]
            last = records[-1]
            next_cursor = time_cursor(ts(last.started_at), last.execution_id)
        return Page[RunHistoryRecord](items=records, next_cursor=next_cursor)
