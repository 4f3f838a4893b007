"""Broken stores of the first proof set: pagination, time precision and offsets, expiry,
atomicity, copies, driver errors, batch atomicity. One realistic defect each; each class
subclasses one memory store and overrides the method where its bug lives.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from orcheo_storage.clock import optional_utc, utcnow
from orcheo_storage.errors import HandleConflictError, ValidationError
from orcheo_storage.jsoncodec import JsonObject, JsonValue
from orcheo_storage.memory import workflows as memory_workflows
from orcheo_storage.memory._state import MemoryState, copy, sort_key_id
from orcheo_storage.memory.agentensor import MemoryAgentensorStore
from orcheo_storage.memory.bulk import MemoryBulkTransfer
from orcheo_storage.memory.history import MemoryHistoryStore
from orcheo_storage.memory.listeners import MemoryListenerStore
from orcheo_storage.memory.tokens import MemoryServiceTokenStore
from orcheo_storage.memory.triggers import MemoryTriggerStore
from orcheo_storage.memory.workflows import MemoryWorkflowRepository
from orcheo_storage.models.agentensor import AgentensorCheckpoint
from orcheo_storage.models.common import Page
from orcheo_storage.models.history import RunHistoryStep
from orcheo_storage.models.tokens import ServiceToken
from orcheo_storage.models.workflows import Workflow, WorkflowRun, WorkflowVersion
from orcheo_storage.rules import history as history_rules
from orcheo_storage.rules import listeners as listener_rules
from orcheo_storage.rules.pagination import check_limit, decode_time_cursor, encode_cursor
from orcheo_storage.rules.workflows import WorkflowChanges

# --- the bugs ------------------------------------------------------------------------------------


class OffByOnePagination(MemoryWorkflowRepository):
    """The next-page cursor points at the first row of the next page, not the last row
    of this one, so the row at every page boundary is skipped."""

    async def list_runs(
        self, workflow_id: UUID, *, limit: int = 50, cursor: str | None = None
    ) -> Page[WorkflowRun]:
        check_limit(limit)
        after = decode_time_cursor(cursor)
        key: Callable[[WorkflowRun], tuple[datetime, str]] = lambda r: sort_key_id(  # noqa: E731
            r.created_at, r.id
        )
        rows = sorted(
            (r for r in self._state.runs.values() if r.workflow_id == workflow_id),
            key=key,
            reverse=True,
        )
        if after is not None:
            rows = [r for r in rows if key(r) < after]
        page = rows[:limit]
        if len(rows) <= limit:
            return Page[WorkflowRun](items=[copy(r) for r in page], next_cursor=None)
        stamp, ident = key(rows[limit])  # BUG: should be page[-1]
        return Page[WorkflowRun](
            items=[copy(r) for r in page], next_cursor=encode_cursor(stamp.isoformat(), ident)
        )


def _to_millis(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


class DroppedMicrosecond(MemoryTriggerStore):
    """Stores dispatch times at millisecond precision (a ``DATETIME(3)`` column)."""

    async def advance_cron_dispatch(
        self, workflow_id: UUID, *, expected: datetime | None, new: datetime
    ) -> bool:
        ok = await super().advance_cron_dispatch(workflow_id, expected=expected, new=new)
        if ok:
            self._state.cron_dispatch[workflow_id] = _to_millis(
                self._state.cron_dispatch[workflow_id]
            )
        return ok


class DroppedTimezone(MemoryTriggerStore):
    """Labels the caller's wall-clock time as UTC instead of converting it."""

    async def advance_cron_dispatch(
        self, workflow_id: UUID, *, expected: datetime | None, new: datetime
    ) -> bool:
        return await super().advance_cron_dispatch(
            workflow_id,
            expected=None if expected is None else expected.replace(tzinfo=UTC),
            new=new.replace(tzinfo=UTC),  # BUG: should be astimezone(UTC)
        )


class ExpiredTokenActive(MemoryServiceTokenStore):
    """``list_active`` only looks at revocation and forgets ``expires_at``."""

    async def list_active(self, *, now: datetime | None = None) -> list[ServiceToken]:
        optional_utc(now, "now")
        return [t for t in await self.list_all() if t.revoked_at is None]


class NonAtomicVersionNumber(MemoryWorkflowRepository):
    """Reads the highest number, awaits a round trip, then inserts max + 1."""

    async def create_version(
        self,
        workflow_id: UUID,
        *,
        graph: dict[str, Any],
        created_by: str,
        metadata: dict[str, Any] | None = None,
        runnable_config: dict[str, Any] | None = None,
        notes: str | None = None,
    ) -> WorkflowVersion:
        from orcheo_storage.rules import versions as version_rules

        version_rules.prepare_version_input(graph, metadata, runnable_config)
        memory_workflows.require_workflow(self._state, workflow_id)
        existing = self._versions_of(workflow_id)
        number = existing[-1].version + 1 if existing else 1
        await asyncio.sleep(0)  # BUG: another writer can read the same number meanwhile
        version = version_rules.new_version(
            workflow_id=workflow_id,
            number=number,
            graph=graph,
            created_by=created_by,
            now=utcnow(),
            metadata=metadata,
            runnable_config=runnable_config,
            notes=notes,
        )
        self._state.put_version(version)
        return copy(version)


class LostIsBestReset(MemoryAgentensorStore):
    """Marks the new best without clearing the previous one."""

    def _make_only_best(self, chosen: AgentensorCheckpoint) -> None:
        self._state.checkpoints[chosen.id] = chosen  # BUG: other bests stay best


def _holder_ignoring_archive(
    state: MemoryState, handle: str, *, exclude: UUID | None = None
) -> UUID | None:
    for workflow in state.workflows.values():
        if workflow.handle == handle and workflow.id != exclude:  # BUG: archived still block
            return workflow.id
    return None


class HandleCheckIgnoresArchived(MemoryWorkflowRepository):
    """Treats an archived holder of a handle as if it still held it."""

    async def create_workflow(self, **kwargs: Any) -> Workflow:
        handle = kwargs.get("handle")
        if handle is not None:
            normalised = handle.strip().lower()
            if _holder_ignoring_archive(self._state, normalised) is not None:
                raise HandleConflictError(normalised)
        return await super().create_workflow(**kwargs)


class ClaimTwoWinners(MemoryListenerStore):
    """Checks the lease, awaits a round trip, then writes: racing runtimes both win."""

    async def claim_subscription(
        self, subscription_id: UUID, *, runtime_id: str, lease_seconds: float
    ) -> Any:
        lease = listener_rules.check_lease_seconds(lease_seconds)
        sub = self._state.subscriptions.get(subscription_id)
        now = utcnow()
        if sub is None or not listener_rules.can_claim(sub, runtime_id, now):
            return None
        await asyncio.sleep(0)  # BUG: no conditional update / row lock
        claimed = listener_rules.claim(sub, runtime_id, lease, now)
        self._state.subscriptions[subscription_id] = claimed
        return copy(claimed)


class StepIndexReusedAfterFailure(MemoryHistoryStore):
    """Keeps a per-execution counter and 'rolls it back' one too far on a rejected step."""

    def __init__(self, state: MemoryState) -> None:
        super().__init__(state)
        self._next: dict[str, int] = {}

    async def append_step(self, execution_id: str, payload: Any) -> RunHistoryStep:
        record = self._require(execution_id)
        index = self._next.get(execution_id, 0)
        self._next[execution_id] = index + 1
        now = utcnow()
        try:
            step = history_rules.new_step(index, payload, now)
        except ValidationError:
            self._next[execution_id] = index - 1  # BUG: should restore ``index``
            raise
        self._state.steps[execution_id].append(step)
        self._state.histories[execution_id] = record.model_copy(update={"trace_last_span_at": now})
        return copy(step)


class ShallowCopyReturned(MemoryWorkflowRepository):
    """Returns shallow copies: the caller shares the stored lists and dicts."""

    async def create_workflow(self, **kwargs: Any) -> Workflow:
        created = await super().create_workflow(**kwargs)
        return self._state.workflows[created.id].model_copy()  # BUG: not deep

    async def get_workflow(self, workflow_id: UUID) -> Workflow:
        return memory_workflows.require_workflow(self._state, workflow_id).model_copy()


class RawDriverErrorLeaks(MemoryWorkflowRepository):
    """Lets the database's unique-constraint error escape instead of translating it."""

    async def create_workflow(self, **kwargs: Any) -> Workflow:
        try:
            return await super().create_workflow(**kwargs)
        except HandleConflictError:
            raise sqlite3.IntegrityError(  # BUG: should raise HandleConflictError
                "UNIQUE constraint failed: workflows.handle"
            ) from None

    async def update_workflow(
        self, workflow_id: UUID, changes: WorkflowChanges, *, actor: str
    ) -> Workflow:
        try:
            return await super().update_workflow(workflow_id, changes, actor=actor)
        except HandleConflictError:
            raise sqlite3.IntegrityError("UNIQUE constraint failed: workflows.handle") from None


class DedupeLeftBehind(MemoryListenerStore):
    """Records the dedupe key before creating the run, outside one transaction."""

    async def dispatch_event(
        self,
        subscription_id: UUID,
        dedupe_key: str,
        *,
        window_seconds: float,
        workflow_version_id: UUID,
        triggered_by: str,
        input_payload: dict[str, Any] | None = None,
        runnable_config: dict[str, Any] | None = None,
    ) -> WorkflowRun | None:
        if not await self.record_dedupe(subscription_id, dedupe_key, window_seconds=window_seconds):
            return None
        sub = self._require(subscription_id)
        # BUG: the dedupe key is already committed; a failure below leaves it behind.
        run = memory_workflows.build_run(
            self._state,
            sub.workflow_id,
            workflow_version_id=workflow_version_id,
            triggered_by=triggered_by,
            now=utcnow(),
            input_payload=input_payload,
            runnable_config=runnable_config,
        )
        self._state.put_run(run)
        return copy(run)


class ApplyChangesRowByRow(MemoryBulkTransfer):
    """Bug: a batch of changes is applied row by row, so rows before a bad one stay."""

    async def apply_changes(
        self,
        table: str,
        upserts: list[JsonObject],
        deletes: list[list[JsonValue]],
        *,
        batch_id: str,
    ) -> bool:
        if batch_id in await self.imported_batches():
            return False
        for n, key in enumerate(deletes):
            await super().apply_changes(table, [], [key], batch_id=f"{batch_id}#d{n}")
        for n, row in enumerate(upserts):
            await super().apply_changes(table, [row], [], batch_id=f"{batch_id}#u{n}")
        return await super().apply_changes(table, [], [], batch_id=batch_id)
