"""The workflow repository: workflows, versions and runs."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable
from uuid import UUID

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
from orcheo_storage.rules.workflows import WorkflowChanges


@runtime_checkable
class WorkflowRepository(Protocol):
    """Workflows, their immutable versions and their runs.

    Every method is atomic. Errors: ``WorkflowNotFoundError``, ``VersionNotFoundError``,
    ``RunNotFoundError``, ``HandleConflictError``, ``PublishStateError``,
    ``InvalidTransitionError``, ``ValidationError``.
    """

    # --- workflows ---
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
        """Create a workflow. Raises ``HandleConflictError`` when an active workflow holds the handle."""
        ...

    async def get_workflow(self, workflow_id: UUID) -> Workflow:
        """Raises ``WorkflowNotFoundError`` (archived workflows are still returned)."""
        ...

    async def list_workflows(self, *, include_archived: bool = False) -> list[Workflow]:
        """All workflows ordered by (created_at, id); archived only when asked."""
        ...

    async def update_workflow(
        self, workflow_id: UUID, changes: WorkflowChanges, *, actor: str
    ) -> Workflow:
        """Apply ``changes`` (``None`` fields unchanged), audited. Archiving revokes publication
        and disables the workflow's listener subscriptions; unarchiving re-checks the handle."""
        ...

    async def archive_workflow(self, workflow_id: UUID, *, actor: str) -> Workflow:
        """Shorthand for ``update_workflow(..., WorkflowChanges(is_archived=True))``."""
        ...

    async def resolve_workflow_ref(self, ref: str, *, include_archived: bool = False) -> UUID:
        """Active handle holder; then (if asked) the latest-updated archived holder; then a UUID.

        Raises ``WorkflowNotFoundError`` ("workflow ref is empty" for blank refs).
        """
        ...

    async def publish_workflow(
        self, workflow_id: UUID, *, actor: str, require_login: bool = False
    ) -> Workflow:
        """Raises ``WorkflowNotFoundError`` (missing or archived) or ``PublishStateError``."""
        ...

    async def revoke_publication(self, workflow_id: UUID, *, actor: str) -> Workflow:
        """Raises ``WorkflowNotFoundError`` or ``PublishStateError`` when not public."""
        ...

    # --- versions ---
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
        """Next gapless version number (from 1), unique across processes."""
        ...

    async def get_version(self, version_id: UUID) -> WorkflowVersion: ...

    async def get_version_by_number(self, workflow_id: UUID, number: int) -> WorkflowVersion: ...

    async def get_latest_version(self, workflow_id: UUID) -> WorkflowVersion:
        """Raises ``VersionNotFoundError("latest")`` when there is none."""
        ...

    async def list_versions(self, workflow_id: UUID) -> list[WorkflowVersion]:
        """Ascending by number. Raises ``WorkflowNotFoundError``."""
        ...

    async def set_version_runnable_config(
        self, version_id: UUID, runnable_config: dict[str, Any] | None, *, actor: str
    ) -> WorkflowVersion:
        """Replace or clear (``None``) the only mutable part of a version, audited."""
        ...

    async def diff_versions(self, workflow_id: UUID, base: int, target: int) -> VersionDiff: ...

    # --- runs ---
    async def create_run(
        self,
        workflow_id: UUID,
        *,
        workflow_version_id: UUID,
        triggered_by: str,
        input_payload: dict[str, Any] | None = None,
        runnable_config: dict[str, Any] | None = None,
    ) -> WorkflowRun:
        """Pending run with the merged config. Workflow missing/archived -> not found;
        version missing or of another workflow -> ``VersionNotFoundError``."""
        ...

    async def get_run(self, run_id: UUID) -> WorkflowRun: ...

    async def list_runs(
        self, workflow_id: UUID, *, limit: int = 50, cursor: str | None = None
    ) -> Page[WorkflowRun]:
        """Newest first (created_at, id descending), keyset-paginated."""
        ...

    async def transition_run(
        self,
        run_id: UUID,
        target: RunStatus,
        *,
        actor: str,
        output: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> WorkflowRun:
        """Atomic state-machine step; of two racing callers exactly one wins, the other gets
        ``InvalidTransitionError``."""
        ...
