"""In-memory workflow repository: workflows, versions and runs."""

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
from orcheo_storage.memory._lifecycle import refuses_when_closed
from orcheo_storage.memory._paging import newest_first_page
from orcheo_storage.memory._state import MemoryState, copy, sort_key_id
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
from orcheo_storage.rules import listeners as listener_rules
from orcheo_storage.rules import runs as run_rules
from orcheo_storage.rules import versions as version_rules
from orcheo_storage.rules import workflows as workflow_rules
from orcheo_storage.rules.handles import normalise_ref, ref_as_uuid
from orcheo_storage.rules.pagination import check_limit, decode_time_cursor
from orcheo_storage.rules.states import parse_state


def require_workflow(state: MemoryState, workflow_id: UUID) -> Workflow:
    """The stored workflow. Raises ``WorkflowNotFoundError``."""
    workflow = state.workflows.get(workflow_id)
    if workflow is None:
        raise WorkflowNotFoundError(workflow_id)
    return workflow


def active_holder(state: MemoryState, handle: str, *, exclude: UUID | None = None) -> UUID | None:
    """The non-archived workflow holding ``handle`` (other than ``exclude``)."""
    holder = state.active_handles.get(handle)
    return None if holder == exclude else holder


def build_run(
    state: MemoryState,
    workflow_id: UUID,
    *,
    workflow_version_id: UUID,
    triggered_by: str,
    now: datetime,
    input_payload: dict[str, Any] | None = None,
    runnable_config: dict[str, Any] | None = None,
) -> WorkflowRun:
    """Validate and build a pending run without storing it (so callers can commit it with
    other writes). Raises ``WorkflowNotFoundError``, ``VersionNotFoundError``, ``ValidationError``."""
    workflow = state.workflows.get(workflow_id)
    if workflow is None or workflow.is_archived:
        raise WorkflowNotFoundError(workflow_id)
    version = state.versions.get(workflow_version_id)
    if version is None or version.workflow_id != workflow_id:
        raise VersionNotFoundError(workflow_version_id)
    return run_rules.new_run(
        workflow_id=workflow_id,
        version_id=version.id,
        version_config=version.runnable_config,
        triggered_by=triggered_by,
        now=now,
        input_payload=input_payload,
        runnable_config=runnable_config,
    )


def _run_status(target: RunStatus | str) -> RunStatus:
    return parse_state(RunStatus, target, entity="run", field="target")


@refuses_when_closed
class MemoryWorkflowRepository:
    """:class:`~orcheo_storage.protocols.workflows.WorkflowRepository` over a session's state."""

    def __init__(self, state: MemoryState) -> None:
        self._state = state

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
        if workflow.handle is not None and active_holder(self._state, workflow.handle):
            raise HandleConflictError(workflow.handle)
        self._state.put_workflow(workflow)
        return copy(workflow)

    async def get_workflow(self, workflow_id: UUID) -> Workflow:
        return copy(require_workflow(self._state, workflow_id))

    async def list_workflows(self, *, include_archived: bool = False) -> list[Workflow]:
        found = [w for w in self._state.workflows.values() if include_archived or not w.is_archived]
        found.sort(key=lambda w: sort_key_id(w.created_at, w.id))
        return [copy(w) for w in found]

    async def update_workflow(
        self, workflow_id: UUID, changes: workflow_rules.WorkflowChanges, *, actor: str
    ) -> Workflow:
        current = require_workflow(self._state, workflow_id)
        now = utcnow()
        updated = workflow_rules.apply_changes(current, changes, actor=actor, now=now)
        if (
            updated.handle is not None
            and not updated.is_archived
            and active_holder(self._state, updated.handle, exclude=workflow_id)
        ):
            raise HandleConflictError(updated.handle)
        self._state.put_workflow(updated)
        if updated.is_archived and not current.is_archived:
            self._disable_subscriptions(workflow_id, now)
        return copy(updated)

    def _disable_subscriptions(self, workflow_id: UUID, now: datetime) -> None:
        subs = self._state.subscriptions
        for sub_id, sub in list(subs.items()):
            if sub.workflow_id == workflow_id and sub.status is not ListenerStatus.DISABLED:
                subs[sub_id] = listener_rules.disable(sub, reason="workflow_archived", now=now)

    async def archive_workflow(self, workflow_id: UUID, *, actor: str) -> Workflow:
        return await self.update_workflow(
            workflow_id, workflow_rules.WorkflowChanges(is_archived=True), actor=actor
        )

    async def resolve_workflow_ref(self, ref: str, *, include_archived: bool = False) -> UUID:
        value = normalise_ref(ref)
        holder = active_holder(self._state, value)
        if holder is not None:
            return holder
        if include_archived:
            archived = [
                w for w in self._state.workflows.values() if w.handle == value and w.is_archived
            ]
            if archived:
                return max(archived, key=lambda w: sort_key_id(w.updated_at, w.id)).id
        as_uuid = ref_as_uuid(value)
        if as_uuid is not None and as_uuid in self._state.workflows:
            return as_uuid
        raise WorkflowNotFoundError(value)

    async def publish_workflow(
        self, workflow_id: UUID, *, actor: str, require_login: bool = False
    ) -> Workflow:
        current = self._state.workflows.get(workflow_id)
        if current is None or current.is_archived:
            raise WorkflowNotFoundError(workflow_id)
        updated = workflow_rules.publish(
            current, actor=actor, require_login=require_login, now=utcnow()
        )
        self._state.put_workflow(updated)
        return copy(updated)

    async def revoke_publication(self, workflow_id: UUID, *, actor: str) -> Workflow:
        current = require_workflow(self._state, workflow_id)
        updated = workflow_rules.revoke_publication(current, actor=actor, now=utcnow())
        self._state.put_workflow(updated)
        return copy(updated)

    # --- versions ------------------------------------------------------------------------------

    def _versions_of(self, workflow_id: UUID) -> list[WorkflowVersion]:
        numbers = self._state.versions_by_workflow.get(workflow_id, {})
        return [self._state.versions[numbers[n]] for n in sorted(numbers)]

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
        version_rules.prepare_version_input(graph, metadata, runnable_config)
        require_workflow(self._state, workflow_id)
        numbers = self._state.versions_by_workflow.get(workflow_id, {})
        version = version_rules.new_version(
            workflow_id=workflow_id,
            number=max(numbers, default=0) + 1,
            graph=graph,
            created_by=created_by,
            now=utcnow(),
            metadata=metadata,
            runnable_config=runnable_config,
            notes=notes,
        )
        self._state.put_version(version)
        return copy(version)

    async def get_version(self, version_id: UUID) -> WorkflowVersion:
        version = self._state.versions.get(version_id)
        if version is None:
            raise VersionNotFoundError(version_id)
        return copy(version)

    def _by_number(self, workflow_id: UUID, number: int) -> WorkflowVersion:
        version_id = self._state.versions_by_workflow.get(workflow_id, {}).get(number)
        if version_id is None:
            raise VersionNotFoundError(number)
        return self._state.versions[version_id]

    async def get_version_by_number(self, workflow_id: UUID, number: int) -> WorkflowVersion:
        return copy(self._by_number(workflow_id, number))

    async def get_latest_version(self, workflow_id: UUID) -> WorkflowVersion:
        versions = self._versions_of(workflow_id)
        if not versions:
            raise VersionNotFoundError("latest")
        return copy(versions[-1])

    async def list_versions(self, workflow_id: UUID) -> list[WorkflowVersion]:
        require_workflow(self._state, workflow_id)
        return [copy(v) for v in self._versions_of(workflow_id)]

    async def set_version_runnable_config(
        self, version_id: UUID, runnable_config: dict[str, Any] | None, *, actor: str
    ) -> WorkflowVersion:
        current = self._state.versions.get(version_id)
        if current is None:
            raise VersionNotFoundError(version_id)
        updated = version_rules.replace_runnable_config(
            current, runnable_config, actor=actor, now=utcnow()
        )
        self._state.put_version(updated)
        return copy(updated)

    async def diff_versions(self, workflow_id: UUID, base: int, target: int) -> VersionDiff:
        return version_rules.diff_versions(
            self._by_number(workflow_id, base), self._by_number(workflow_id, target)
        )

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
        run = build_run(
            self._state,
            workflow_id,
            workflow_version_id=workflow_version_id,
            triggered_by=triggered_by,
            now=utcnow(),
            input_payload=input_payload,
            runnable_config=runnable_config,
        )
        self._state.put_run(run)
        return copy(run)

    async def get_run(self, run_id: UUID) -> WorkflowRun:
        run = self._state.runs.get(run_id)
        if run is None:
            raise RunNotFoundError(run_id)
        return copy(run)

    async def list_runs(
        self, workflow_id: UUID, *, limit: int = 50, cursor: str | None = None
    ) -> Page[WorkflowRun]:
        check_limit(limit)
        after = decode_time_cursor(cursor, UUID)
        keys = self._state.runs_by_workflow.get(workflow_id, [])
        page, next_cursor = newest_first_page(keys, after=after, limit=limit)
        runs = [copy(self._state.runs[run_id]) for _, run_id in page]
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
        current = self._state.runs.get(run_id)
        if current is None:
            raise RunNotFoundError(run_id)
        updated = run_rules.transition_run(
            current, status, actor=actor, now=utcnow(), output=output, error=error
        )
        self._state.put_run(updated)
        return copy(updated)
