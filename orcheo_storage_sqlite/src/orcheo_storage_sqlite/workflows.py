"""The SQLite workflow repository: workflows, versions and runs."""

from __future__ import annotations

import sqlite3
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
from orcheo_storage.models.workflows import (
    ChatConfig,
    DraftAccess,
    RunStatus,
    VersionDiff,
    Workflow,
    WorkflowRun,
    WorkflowVersion,
)
from orcheo_storage.rules import runs as run_rules
from orcheo_storage.rules import versions as version_rules
from orcheo_storage.rules import workflows as workflow_rules
from orcheo_storage.rules.handles import normalise_ref, ref_as_uuid
from orcheo_storage.rules.pagination import check_limit
from orcheo_storage.rules.states import parse_state

from orcheo_storage_sqlite._shared import (
    build_run,
    decode_time_cursor,
    disable_subscriptions,
    require_workflow,
    time_cursor,
)
from orcheo_storage_sqlite.codec import ts
from orcheo_storage_sqlite.engine import Database
from orcheo_storage_sqlite.tables import RUNS, VERSIONS, WORKFLOWS

_ACTIVE_HOLDER = "SELECT id FROM workflows WHERE handle = ? AND is_archived = 0"
_ARCHIVED_HOLDER = """SELECT id FROM workflows WHERE handle = ? AND is_archived = 1
ORDER BY updated_at DESC, id DESC LIMIT 1"""
_BY_ID = "SELECT id FROM workflows WHERE id = ?"
_NEXT_VERSION = "SELECT ifnull(max(version), 0) + 1 FROM workflow_versions WHERE workflow_id = ?"
_RUNS_FIRST = "WHERE workflow_id = ? ORDER BY created_at DESC, id DESC LIMIT ?"
_RUNS_AFTER = """WHERE workflow_id = ? AND (created_at, id) < (?, ?)
ORDER BY created_at DESC, id DESC LIMIT ?"""


def _handle_conflict(exc: sqlite3.IntegrityError, handle: str | None) -> Exception:
    if handle is not None and "workflows.handle" in str(exc):
        return HandleConflictError(handle)
    return exc


def _run_status(target: RunStatus | str) -> RunStatus:
    return parse_state(RunStatus, target, entity="run", field="target")


class SqliteWorkflowRepository:
    """:class:`~orcheo_storage.protocols.workflows.WorkflowRepository` on the repository file."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # --- workflows -----------------------------------------------------------------------------

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
        workflow = workflow_rules.new_workflow(
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
        params = WORKFLOWS.params(workflow)

        def job(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(WORKFLOWS.insert, params)
            except sqlite3.IntegrityError as exc:
                raise _handle_conflict(exc, workflow.handle) from None

        await self._db.write(job)
        return workflow

    async def get_workflow(self, workflow_id: UUID) -> Workflow:
        return await self._db.read(lambda conn: require_workflow(conn, workflow_id))

    async def list_workflows(self, *, include_archived: bool = False) -> list[Workflow]:
        tail = (
            "ORDER BY created_at, id"
            if include_archived
            else ("WHERE is_archived = 0 ORDER BY created_at, id")
        )
        return await self._db.read(lambda conn: WORKFLOWS.fetch_all(conn, tail))

    async def update_workflow(
        self, workflow_id: UUID, changes: workflow_rules.WorkflowChanges, *, actor: str
    ) -> Workflow:
        def job(conn: sqlite3.Connection) -> Workflow:
            current = require_workflow(conn, workflow_id)
            now = utcnow()
            updated = workflow_rules.apply_changes(current, changes, actor=actor, now=now)
            try:
                WORKFLOWS.update_row(conn, updated)
            except sqlite3.IntegrityError as exc:
                raise _handle_conflict(exc, updated.handle) from None
            if updated.is_archived and not current.is_archived:
                disable_subscriptions(conn, workflow_id, reason="workflow_archived", now=now)
            return updated

        return await self._db.write(job)

    async def archive_workflow(self, workflow_id: UUID, *, actor: str) -> Workflow:
        return await self.update_workflow(
            workflow_id, workflow_rules.WorkflowChanges(is_archived=True), actor=actor
        )

    async def resolve_workflow_ref(self, ref: str, *, include_archived: bool = False) -> UUID:
        value = normalise_ref(ref)
        as_uuid = ref_as_uuid(value)

        def job(conn: sqlite3.Connection) -> UUID:
            row = conn.execute(_ACTIVE_HOLDER, (value,)).fetchone()
            if row is None and include_archived:
                row = conn.execute(_ARCHIVED_HOLDER, (value,)).fetchone()
            if row is None and as_uuid is not None:
                row = conn.execute(_BY_ID, (str(as_uuid),)).fetchone()
            if row is None:
                raise WorkflowNotFoundError(value)
            return UUID(row[0])

        return await self._db.read(job, snapshot=True)

    async def publish_workflow(
        self, workflow_id: UUID, *, actor: str, require_login: bool = False
    ) -> Workflow:
        def job(conn: sqlite3.Connection) -> Workflow:
            current = WORKFLOWS.fetch_one(conn, "id = ?", (str(workflow_id),))
            if current is None or current.is_archived:
                raise WorkflowNotFoundError(workflow_id)
            updated = workflow_rules.publish(
                current, actor=actor, require_login=require_login, now=utcnow()
            )
            WORKFLOWS.update_row(conn, updated)
            return updated

        return await self._db.write(job)

    async def revoke_publication(self, workflow_id: UUID, *, actor: str) -> Workflow:
        def job(conn: sqlite3.Connection) -> Workflow:
            current = require_workflow(conn, workflow_id)
            updated = workflow_rules.revoke_publication(current, actor=actor, now=utcnow())
            WORKFLOWS.update_row(conn, updated)
            return updated

        return await self._db.write(job)

    # --- versions ------------------------------------------------------------------------------

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
        # Build and validate the version before taking the write lock (checksum, JSON
        # encoding): only the number is allocated inside the transaction.
        draft = version_rules.new_version(
            workflow_id=workflow_id,
            number=1,
            graph=graph,
            created_by=created_by,
            now=utcnow(),
            metadata=metadata,
            runnable_config=runnable_config,
            notes=notes,
        )
        params = list(VERSIONS.params(draft))
        number_at = VERSIONS.names.index("version")

        def job(conn: sqlite3.Connection) -> int:
            if conn.execute(_BY_ID, (str(workflow_id),)).fetchone() is None:
                raise WorkflowNotFoundError(workflow_id)
            # Safe across processes: we hold the write lock (BEGIN IMMEDIATE), and
            # UNIQUE (workflow_id, version) backs it up.
            number = int(conn.execute(_NEXT_VERSION, (str(workflow_id),)).fetchone()[0])
            params[number_at] = number
            conn.execute(VERSIONS.insert, params)
            return number

        number = await self._db.write(job)
        return draft.model_copy(update={"version": number})

    async def get_version(self, version_id: UUID) -> WorkflowVersion:
        def job(conn: sqlite3.Connection) -> WorkflowVersion:
            version = VERSIONS.fetch_one(conn, "id = ?", (str(version_id),))
            if version is None:
                raise VersionNotFoundError(version_id)
            return version

        return await self._db.read(job)

    @staticmethod
    def _by_number(conn: sqlite3.Connection, workflow_id: UUID, number: int) -> WorkflowVersion:
        version = VERSIONS.fetch_one(
            conn, "workflow_id = ? AND version = ?", (str(workflow_id), number)
        )
        if version is None:
            raise VersionNotFoundError(number)
        return version

    async def get_version_by_number(self, workflow_id: UUID, number: int) -> WorkflowVersion:
        return await self._db.read(lambda conn: self._by_number(conn, workflow_id, number))

    async def get_latest_version(self, workflow_id: UUID) -> WorkflowVersion:
        def job(conn: sqlite3.Connection) -> WorkflowVersion:
            version = VERSIONS.fetch_one(
                conn, "workflow_id = ? ORDER BY version DESC LIMIT 1", (str(workflow_id),)
            )
            if version is None:
                raise VersionNotFoundError("latest")
            return version

        return await self._db.read(job)

    async def list_versions(self, workflow_id: UUID) -> list[WorkflowVersion]:
        def job(conn: sqlite3.Connection) -> list[WorkflowVersion]:
            if conn.execute(_BY_ID, (str(workflow_id),)).fetchone() is None:
                raise WorkflowNotFoundError(workflow_id)
            return VERSIONS.fetch_all(
                conn, "WHERE workflow_id = ? ORDER BY version", (str(workflow_id),)
            )

        return await self._db.read(job, snapshot=True)

    async def set_version_runnable_config(
        self, version_id: UUID, runnable_config: dict[str, Any] | None, *, actor: str
    ) -> WorkflowVersion:
        def job(conn: sqlite3.Connection) -> WorkflowVersion:
            current = VERSIONS.fetch_one(conn, "id = ?", (str(version_id),))
            if current is None:
                raise VersionNotFoundError(version_id)
            updated = version_rules.replace_runnable_config(
                current, runnable_config, actor=actor, now=utcnow()
            )
            VERSIONS.update_row(conn, updated)
            return updated

        return await self._db.write(job)

    async def diff_versions(self, workflow_id: UUID, base: int, target: int) -> VersionDiff:
        def job(conn: sqlite3.Connection) -> VersionDiff:
            return version_rules.diff_versions(
                self._by_number(conn, workflow_id, base), self._by_number(conn, workflow_id, target)
            )

        return await self._db.read(job, snapshot=True)

    # --- runs ----------------------------------------------------------------------------------

    async def create_run(
        self,
        workflow_id: UUID,
        *,
        workflow_version_id: UUID,
        triggered_by: str,
        input_payload: dict[str, Any] | None = None,
        runnable_config: dict[str, Any] | None = None,
    ) -> WorkflowRun:
        def job(conn: sqlite3.Connection) -> WorkflowRun:
            run = build_run(
                conn,
                workflow_id,
                workflow_version_id=workflow_version_id,
                triggered_by=triggered_by,
                now=utcnow(),
                input_payload=input_payload,
                runnable_config=runnable_config,
            )
            RUNS.insert_row(conn, run)
            return run

        return await self._db.write(job)

    async def get_run(self, run_id: UUID) -> WorkflowRun:
        def job(conn: sqlite3.Connection) -> WorkflowRun:
            run = RUNS.fetch_one(conn, "id = ?", (str(run_id),))
            if run is None:
                raise RunNotFoundError(run_id)
            return run

        return await self._db.read(job)

    async def list_runs(
        self, workflow_id: UUID, *, limit: int = 50, cursor: str | None = None
    ) -> Page[WorkflowRun]:
        check_limit(limit)
        after = decode_time_cursor(cursor, UUID)

        def job(conn: sqlite3.Connection) -> list[WorkflowRun]:
            if after is None:
                return RUNS.fetch_all(conn, _RUNS_FIRST, (str(workflow_id), limit + 1))
            return RUNS.fetch_all(conn, _RUNS_AFTER, (str(workflow_id), *after, limit + 1))

        runs = await self._db.read(job)
        next_cursor = None
        if len(runs) > limit:
            runs = runs[:limit]
            last = runs[-1]
            next_cursor = time_cursor(ts(last.created_at), str(last.id))
        return Page[WorkflowRun](items=runs, next_cursor=next_cursor)

    async def transition_run(
        self,
        run_id: UUID,
        target: RunStatus,
        *,
        actor: str,
        output: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> WorkflowRun:
        status = _run_status(target)

        def job(conn: sqlite3.Connection) -> WorkflowRun:
            # Read-check-write under the write lock: of two racing callers (in any
            # process) the second sees the first's result and gets the transition error.
            current = RUNS.fetch_one(conn, "id = ?", (str(run_id),))
            if current is None:
                raise RunNotFoundError(run_id)
            updated = run_rules.transition_run(
                current, status, actor=actor, now=utcnow(), output=output, error=error
            )
            RUNS.update_row(conn, updated)
            return updated

        return await self._db.write(job)
