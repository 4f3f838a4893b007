"""The workflow repository on PostgreSQL: workflows, versions and runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from orcheo_storage.clock import utcnow
from orcheo_storage.errors import (
    HandleConflictError,
    RunNotFoundError,
    VersionNotFoundError,
    WorkflowNotFoundError,
)
from orcheo_storage.models.common import Page
from orcheo_storage.models.listeners import ListenerStatus
from orcheo_storage.models.workflows import (
    ChatConfig,
    DraftAccess,
    RunStatus,
    VersionDiff,
    Workflow,
    WorkflowRun,
    WorkflowVersion,
)
from orcheo_storage.rules import handles, runs, versions
from orcheo_storage.rules import listeners as listener_rules
from orcheo_storage.rules import workflows as wf_rules
from orcheo_storage.rules.pagination import check_limit, decode_time_cursor, encode_cursor
from orcheo_storage.rules.states import parse_state
from orcheo_storage.rules.workflows import WorkflowChanges

from orcheo_storage_postgres._db import Conn, Db, q_all, q_one
from orcheo_storage_postgres._errors import UniqueViolation
from orcheo_storage_postgres.stores._codecs import RUNS, SUBSCRIPTIONS, VERSIONS, WORKFLOWS

_GET = WORKFLOWS.select("id = %(id)s")
_GET_FOR_UPDATE = WORKFLOWS.select("id = %(id)s", "FOR UPDATE")
_LIST_ACTIVE = WORKFLOWS.select("NOT is_archived", "ORDER BY created_at, id")
_LIST_ALL = WORKFLOWS.select("TRUE", "ORDER BY created_at, id")
_UPDATE = WORKFLOWS.update_all("id", skip=("created_at",))
_RESOLVE_ACTIVE = "SELECT id FROM workflows WHERE handle = %s AND NOT is_archived"
_RESOLVE_ARCHIVED = (
    "SELECT id FROM workflows WHERE handle = %s AND is_archived "
    "ORDER BY updated_at DESC, id DESC LIMIT 1"
)
_EXISTS = "SELECT is_archived FROM workflows WHERE id = %s"

# The version number comes from a per-workflow counter bumped by UPDATE ... RETURNING in the
# same statement as the INSERT: the row lock serialises concurrent creators (in any process)
# and a failed insert rolls the counter back, so numbers stay gapless.
_INSERT_VERSION = """
WITH n AS (
    UPDATE workflows SET version_seq = version_seq + 1 WHERE id = %(workflow_id)s
    RETURNING version_seq
)
INSERT INTO workflow_versions (id, workflow_id, version, graph, metadata, runnable_config,
    notes, created_by, created_at, checksum, audit_log, mermaid, updated_at)
SELECT %(id)s, %(workflow_id)s, n.version_seq, %(graph)s, %(metadata)s, %(runnable_config)s,
    %(notes)s, %(created_by)s, %(created_at)s, %(checksum)s, %(audit_log)s, %(mermaid)s,
    %(updated_at)s FROM n
RETURNING version
"""
_GET_VERSION = VERSIONS.select("id = %(id)s")
_GET_VERSION_FOR_UPDATE = VERSIONS.select("id = %(id)s", "FOR UPDATE")
_GET_VERSION_NUMBER = VERSIONS.select("workflow_id = %(wf)s AND version = %(n)s")
_GET_LATEST = VERSIONS.select("workflow_id = %(wf)s", "ORDER BY version DESC LIMIT 1")
_LIST_VERSIONS = VERSIONS.select("workflow_id = %(wf)s", "ORDER BY version")
_SET_VERSION_CONFIG = (
    "UPDATE workflow_versions SET runnable_config = %(runnable_config)s, "
    "audit_log = %(audit_log)s, updated_at = %(updated_at)s WHERE id = %(id)s"
)

_RUN_CONTEXT = """
SELECT w.is_archived, v.workflow_id AS version_workflow_id, v.runnable_config
FROM workflows w LEFT JOIN workflow_versions v ON v.id = %(version_id)s
WHERE w.id = %(workflow_id)s
FOR SHARE OF w
"""
_GET_RUN = RUNS.select("id = %(id)s")
_GET_RUN_FOR_UPDATE = RUNS.select("id = %(id)s", "FOR UPDATE")
_UPDATE_RUN = RUNS.update_all("id", skip=("created_at",))
_LIST_RUNS = RUNS.select("workflow_id = %(wf)s", "ORDER BY created_at DESC, id DESC LIMIT %(n)s")
_LIST_RUNS_AFTER = RUNS.select(
    "workflow_id = %(wf)s AND (created_at, id) < (%(at)s, %(rid)s)",
    "ORDER BY created_at DESC, id DESC LIMIT %(n)s",
)
_ACTIVE_SUBSCRIPTIONS_FOR_UPDATE = SUBSCRIPTIONS.select(
    "workflow_id = %(wf)s AND status <> 'disabled'", "ORDER BY created_at, id FOR UPDATE"
)
_UPDATE_SUBSCRIPTION = SUBSCRIPTIONS.update_all("id", skip=("created_at",))


def _handle_conflict(exc: UniqueViolation, handle: str | None) -> Exception:
    if exc.constraint == "workflows_active_handle":
        return HandleConflictError(handle or "")
    return exc


async def insert_run(
    conn: Conn,
    workflow_id: UUID,
    *,
    workflow_version_id: UUID,
    triggered_by: str,
    input_payload: dict[str, Any] | None,
    runnable_config: dict[str, Any] | None,
) -> WorkflowRun:
    """Create a pending run inside the caller's transaction (shared with listener dispatch).

    Raises:
        WorkflowNotFoundError: the workflow is missing or archived.
        VersionNotFoundError: the version is missing or belongs to another workflow.
    """
    ctx = await q_one(
        conn, _RUN_CONTEXT, {"workflow_id": workflow_id, "version_id": workflow_version_id}
    )
    if ctx is None or ctx["is_archived"]:
        raise WorkflowNotFoundError(workflow_id)
    if ctx["version_workflow_id"] != workflow_id:
        raise VersionNotFoundError(workflow_version_id)
    run = runs.new_run(
        workflow_id=workflow_id,
        version_id=workflow_version_id,
        version_config=ctx["runnable_config"],
        triggered_by=triggered_by,
        now=utcnow(),
        input_payload=input_payload,
        runnable_config=runnable_config,
    )
    await conn.execute(RUNS.insert_sql, RUNS.params(run))
    return run


class PostgresWorkflowRepository:
    """:class:`~orcheo_storage.protocols.workflows.WorkflowRepository` on PostgreSQL."""

    def __init__(self, db: Db) -> None:
        self._db = db

    # --- workflows -------------------------------------------------------------------------

    async def create_workflow(
        self,
        *,
        name: str,
        actor: str,
        handle: str | None = None,
        slug: str | None = None,
        description: str | None = None,
        tags: list[str] | None = None,
        draft_access: DraftAccess | str = DraftAccess.PERSONAL,
        chat: ChatConfig | dict[str, Any] | None = None,
    ) -> Workflow:
        wf = wf_rules.new_workflow(
            name=name,
            actor=actor,
            now=utcnow(),
            handle=handle,
            slug=slug,
            description=description,
            tags=tags,
            draft_access=draft_access,
            chat=chat,
        )
        try:
            await self._db.run(WORKFLOWS.insert_sql, WORKFLOWS.params(wf))
        except UniqueViolation as exc:
            raise _handle_conflict(exc, wf.handle) from None
        return wf

    async def get_workflow(self, workflow_id: UUID) -> Workflow:
        row = await self._db.read_one(_GET, {"id": workflow_id})
        if row is None:
            raise WorkflowNotFoundError(workflow_id)
        return WORKFLOWS.load(row)

    async def list_workflows(self, *, include_archived: bool = False) -> list[Workflow]:
        rows = await self._db.read_all(_LIST_ALL if include_archived else _LIST_ACTIVE)
        return [WORKFLOWS.load(r) for r in rows]

    async def update_workflow(
        self, workflow_id: UUID, changes: WorkflowChanges, *, actor: str
    ) -> Workflow:
        new_handle = handles.normalise_handle(changes.handle)
        held: str | None = None
        try:
            async with self._db.transaction() as conn:
                row = await q_one(conn, _GET_FOR_UPDATE, {"id": workflow_id})
                if row is None:
                    raise WorkflowNotFoundError(workflow_id)
                current = WORKFLOWS.load(row)
                held = current.handle
                now = utcnow()
                updated = wf_rules.apply_changes(current, changes, actor=actor, now=now)
                await conn.execute(_UPDATE, WORKFLOWS.params(updated))
                if updated.is_archived and not current.is_archived:
                    await self._disable_subscriptions(conn, workflow_id, now)
                return updated
        except UniqueViolation as exc:
            raise _handle_conflict(exc, new_handle or held) from None

    async def _disable_subscriptions(self, conn: Conn, workflow_id: UUID, now: datetime) -> None:
        for row in await q_all(conn, _ACTIVE_SUBSCRIPTIONS_FOR_UPDATE, {"wf": workflow_id}):
            sub = listener_rules.disable(
                SUBSCRIPTIONS.load(row), reason="workflow_archived", now=now
            )
            assert sub.status is ListenerStatus.DISABLED
            await conn.execute(_UPDATE_SUBSCRIPTION, SUBSCRIPTIONS.params(sub))

    async def archive_workflow(self, workflow_id: UUID, *, actor: str) -> Workflow:
        return await self.update_workflow(
            workflow_id, WorkflowChanges(is_archived=True), actor=actor
        )

    async def resolve_workflow_ref(self, ref: str, *, include_archived: bool = False) -> UUID:
        value = handles.normalise_ref(ref)
        async with self._db.connection() as conn:
            row = await q_one(conn, _RESOLVE_ACTIVE, (value,))
            if row is None and include_archived:
                row = await q_one(conn, _RESOLVE_ARCHIVED, (value,))
            if row is not None:
                return UUID(str(row["id"]))
            # A UUID names its workflow whether or not it is archived.
            as_id = handles.ref_as_uuid(value)
            if as_id is not None and await q_one(conn, _EXISTS, (as_id,)) is not None:
                return as_id
        raise WorkflowNotFoundError(value)

    async def publish_workflow(
        self, workflow_id: UUID, *, actor: str, require_login: bool = False
    ) -> Workflow:
        async with self._db.transaction() as conn:
            row = await q_one(conn, _GET_FOR_UPDATE, {"id": workflow_id})
            if row is None or row["is_archived"]:
                raise WorkflowNotFoundError(workflow_id)
            updated = wf_rules.publish(
                WORKFLOWS.load(row), actor=actor, require_login=require_login, now=utcnow()
            )
            await conn.execute(_UPDATE, WORKFLOWS.params(updated))
            return updated

    async def revoke_publication(self, workflow_id: UUID, *, actor: str) -> Workflow:
        async with self._db.transaction() as conn:
            row = await q_one(conn, _GET_FOR_UPDATE, {"id": workflow_id})
            if row is None:
                raise WorkflowNotFoundError(workflow_id)
            updated = wf_rules.revoke_publication(WORKFLOWS.load(row), actor=actor, now=utcnow())
            await conn.execute(_UPDATE, WORKFLOWS.params(updated))
            return updated

    # --- versions --------------------------------------------------------------------------

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
        # Built (and so validated) before the number exists: a rejected input writes nothing.
        draft = versions.new_version(
            workflow_id=workflow_id,
            number=1,
            graph=graph,
            created_by=created_by,
            now=utcnow(),
            metadata=metadata,
            runnable_config=runnable_config,
            notes=notes,
        )
        row = await self._db.one(_INSERT_VERSION, VERSIONS.params(draft))
        if row is None:
            raise WorkflowNotFoundError(workflow_id)
        return draft.model_copy(update={"version": int(row["version"])})

    async def get_version(self, version_id: UUID) -> WorkflowVersion:
        row = await self._db.read_one(_GET_VERSION, {"id": version_id})
        if row is None:
            raise VersionNotFoundError(version_id)
        return VERSIONS.load(row)

    async def get_version_by_number(self, workflow_id: UUID, number: int) -> WorkflowVersion:
        row = await self._db.read_one(_GET_VERSION_NUMBER, {"wf": workflow_id, "n": number})
        if row is None:
            raise VersionNotFoundError(number)
        return VERSIONS.load(row)

    async def get_latest_version(self, workflow_id: UUID) -> WorkflowVersion:
        row = await self._db.read_one(_GET_LATEST, {"wf": workflow_id})
        if row is None:
            raise VersionNotFoundError("latest")
        return VERSIONS.load(row)

    async def list_versions(self, workflow_id: UUID) -> list[WorkflowVersion]:
        async with self._db.connection() as conn:
            rows = await q_all(conn, _LIST_VERSIONS, {"wf": workflow_id})
            if not rows and await q_one(conn, _EXISTS, (workflow_id,)) is None:
                raise WorkflowNotFoundError(workflow_id)
        return [VERSIONS.load(r) for r in rows]

    async def set_version_runnable_config(
        self, version_id: UUID, runnable_config: dict[str, Any] | None, *, actor: str
    ) -> WorkflowVersion:
        async with self._db.transaction() as conn:
            row = await q_one(conn, _GET_VERSION_FOR_UPDATE, {"id": version_id})
            if row is None:
                raise VersionNotFoundError(version_id)
            updated = versions.replace_runnable_config(
                VERSIONS.load(row), runnable_config, actor=actor, now=utcnow()
            )
            params = VERSIONS.params(updated)
            await conn.execute(_SET_VERSION_CONFIG, params)
            return updated

    async def diff_versions(self, workflow_id: UUID, base: int, target: int) -> VersionDiff:
        base_version = await self.get_version_by_number(workflow_id, base)
        target_version = await self.get_version_by_number(workflow_id, target)
        return versions.diff_versions(base_version, target_version)

    # --- runs ------------------------------------------------------------------------------

    async def create_run(
        self,
        workflow_id: UUID,
        *,
        workflow_version_id: UUID,
        triggered_by: str,
        input_payload: dict[str, Any] | None = None,
        runnable_config: dict[str, Any] | None = None,
    ) -> WorkflowRun:
        async with self._db.transaction() as conn:
            return await insert_run(
                conn,
                workflow_id,
                workflow_version_id=workflow_version_id,
                triggered_by=triggered_by,
                input_payload=input_payload,
                runnable_config=runnable_config,
            )

    async def get_run(self, run_id: UUID) -> WorkflowRun:
        row = await self._db.read_one(_GET_RUN, {"id": run_id})
        if row is None:
            raise RunNotFoundError(run_id)
        return RUNS.load(row)

    async def list_runs(
        self, workflow_id: UUID, *, limit: int = 50, cursor: str | None = None
    ) -> Page[WorkflowRun]:
        check_limit(limit)
        params: dict[str, Any] = {"wf": workflow_id, "n": limit + 1}
        query = _LIST_RUNS
        after = decode_time_cursor(cursor, UUID)
        if after is not None:
            params.update(at=after[0], rid=after[1])
            query = _LIST_RUNS_AFTER
        async with self._db.connection() as conn:
            rows = await q_all(conn, query, params)
            if not rows and await q_one(conn, _EXISTS, (workflow_id,)) is None:
                raise WorkflowNotFoundError(workflow_id)
        items = [RUNS.load(r) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = items[-1]
            next_cursor = encode_cursor(last.created_at.isoformat(), str(last.id))
        return Page[WorkflowRun](items=items, next_cursor=next_cursor)

    async def transition_run(
        self,
        run_id: UUID,
        target: RunStatus,
        *,
        actor: str,
        output: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> WorkflowRun:
        # The row lock serialises racing callers; the loser re-reads the new status and the
        # state machine rejects its transition.
        status = parse_state(RunStatus, target, entity="run", field="target")
        async with self._db.transaction() as conn:
            row = await q_one(conn, _GET_RUN_FOR_UPDATE, {"id": run_id})
            if row is None:
                raise RunNotFoundError(run_id)
            updated = runs.transition_run(
                RUNS.load(row),
                status,
                actor=actor,
                now=utcnow(),
                output=output,
                error=error,
            )
            await conn.execute(_UPDATE_RUN, RUNS.params(updated))
            return updated
