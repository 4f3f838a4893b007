"""Broken stores, one realistic defect each, of the kinds a contract suite tends to miss.

Each class subclasses one memory store and overrides the method where its bug lives. The
kinds (issue 14): neighbours and scope, exact match, order/ties/limits, fidelity of
values and times, filters, errors and copies. ``broken_backends.py`` installs each one as
a backend of its own.
"""

from __future__ import annotations

import unicodedata
from typing import Any
from uuid import UUID

from orcheo_storage.clock import utcnow
from orcheo_storage.errors import DuplicateError, TokenNotFoundError, VersionNotFoundError
from orcheo_storage.jsoncodec import normalise_object
from orcheo_storage.memory._state import copy, copy_in
from orcheo_storage.memory.agentensor import MemoryAgentensorStore
from orcheo_storage.memory.chat import MemoryChatStore
from orcheo_storage.memory.history import MemoryHistoryStore
from orcheo_storage.memory.listeners import MemoryListenerStore
from orcheo_storage.memory.remediations import MemoryRemediationStore
from orcheo_storage.memory.tokens import MemoryServiceTokenStore
from orcheo_storage.memory.vault import MemoryVaultRecordStore
from orcheo_storage.memory.workflows import MemoryWorkflowRepository, require_workflow
from orcheo_storage.models.agentensor import AgentensorCheckpoint
from orcheo_storage.models.chat import ChatContext
from orcheo_storage.models.common import Page
from orcheo_storage.models.history import RunHistoryRecord
from orcheo_storage.models.listeners import ListenerStatus, ListenerSubscription
from orcheo_storage.models.remediations import RemediationCandidate, RemediationStatus
from orcheo_storage.models.tokens import ServiceToken
from orcheo_storage.models.vault import GovernanceAlert, StoredCredential
from orcheo_storage.models.workflows import Workflow, WorkflowRun, WorkflowVersion
from orcheo_storage.rules import listeners as listener_rules
from orcheo_storage.rules.pagination import check_limit
from orcheo_storage.rules.workflows import WorkflowChanges

# --- 1. neighbours and scope ---------------------------------------------------------------------


class VersionNumberFromAnyWorkflow(MemoryWorkflowRepository):
    """Looks a version number up without the workflow (``WHERE version = ?``)."""

    async def get_version_by_number(self, workflow_id: UUID, number: int) -> WorkflowVersion:
        require_workflow(self._state, workflow_id)
        for version in self._state.versions.values():
            if version.version == number:  # BUG: any workflow's version ``number``
                return copy(version)
        raise VersionNotFoundError(number)


class ItemDeletedFromAnyThread(MemoryChatStore):
    """Deletes an item by id alone, whichever thread was named."""

    async def delete_thread_item(self, thread_id: str, item_id: str, context: ChatContext) -> None:
        self._thread(thread_id, context)
        if item_id in self._state.items:  # BUG: the item's thread is not checked
            self._state.drop_item(item_id)


class DedupeKeySharedAcrossSubscriptions(MemoryListenerStore):
    """Keys dedupe records by the event key alone, so subscriptions share them."""

    async def record_dedupe(
        self, subscription_id: UUID, dedupe_key: str, *, window_seconds: float
    ) -> bool:
        now = utcnow()
        expires = listener_rules.dedupe_expiry(now, window_seconds)
        self._require(subscription_id)
        for (_, key), held in self._state.dedupe.items():
            if key == dedupe_key and held > now:  # BUG: any subscription's key counts
                return False
        self._state.dedupe[(subscription_id, dedupe_key)] = expires
        return True


class SyncDisablesOtherWorkflows(MemoryListenerStore):
    """Disables every earlier subscription, not only the synced workflow's."""

    async def sync_subscriptions(
        self, workflow_id: UUID, workflow_version_id: UUID, specs: list[Any]
    ) -> list[ListenerSubscription]:
        created = await super().sync_subscriptions(workflow_id, workflow_version_id, specs)
        mine = {s.id for s in created}
        now = utcnow()
        subs = self._state.subscriptions
        for sub_id, sub in list(subs.items()):
            if (
                sub_id not in mine and sub.status is not ListenerStatus.DISABLED
            ):  # BUG: all workflows
                subs[sub_id] = listener_rules.disable(sub, reason="superseded", now=now)
        return created


class AlertKeyedWithoutTemplate(MemoryVaultRecordStore):
    """Matches an open alert on (kind, credential) and forgets the template."""

    async def upsert_alert(self, alert: GovernanceAlert) -> GovernanceAlert:
        incoming = copy_in(alert)
        for existing in self._state.alerts.values():
            if (
                not existing.acknowledged
                and existing.kind == incoming.kind
                and existing.credential_id == incoming.credential_id  # BUG: template ignored
            ):
                merged = incoming.model_copy(
                    update={"id": existing.id, "created_at": existing.created_at}
                )
                self._state.alerts[existing.id] = merged
                return copy(merged)
        self._state.alerts[incoming.id] = incoming
        return copy(incoming)


class IdempotentAcrossClosedCandidates(MemoryRemediationStore):
    """Returns any candidate with the fingerprint, closed ones too (the key scoped too widely)."""

    async def create_candidate(self, **kwargs: Any) -> RemediationCandidate:
        for existing in self._state.candidates.values():
            if existing.fingerprint == kwargs["fingerprint"]:  # BUG: status ignored
                return copy(existing)
        return await super().create_candidate(**kwargs)


# --- 2. exact match ------------------------------------------------------------------------------


class TokenHashPrefixMatch(MemoryServiceTokenStore):
    """Finds a token by the first 16 characters of its hash (an index on a prefix)."""

    async def get_by_hash(self, secret_hash: str) -> ServiceToken | None:
        for token in self._state.tokens.values():
            if token.secret_hash[:16] == secret_hash[:16]:  # BUG: prefix comparison
                return copy(token)
        return None


class TokenIdFirst16Chars(MemoryServiceTokenStore):
    """Compares identifiers on their first 16 characters (a ``CHAR(16)`` key)."""

    async def get_by_id(self, identifier: str) -> ServiceToken:
        for token in self._state.tokens.values():
            if token.identifier[:16] == identifier[:16]:  # BUG: truncated key
                return copy(token)
        raise TokenNotFoundError(identifier)


class CredentialNameWidthFolded(MemoryVaultRecordStore):
    """Checks name uniqueness after NFKC folding, so a fullwidth name clashes."""

    def _check_name(self, record: StoredCredential) -> None:
        name = unicodedata.normalize("NFKC", record.credential.name).lower()  # BUG: width folded
        for other in self._state.credentials.values():
            other_name = unicodedata.normalize("NFKC", other.credential.name).lower()
            if other.credential.id != record.credential.id and other_name == name:
                raise DuplicateError("credential name", record.credential.name)


# --- 3. order, ties and limits -------------------------------------------------------------------


class RunsWithoutTieBreak(MemoryWorkflowRepository):
    """Orders runs by created_at alone: runs of one instant come out in insertion order."""

    async def list_runs(
        self, workflow_id: UUID, *, limit: int = 50, cursor: str | None = None
    ) -> Page[WorkflowRun]:
        check_limit(limit)
        rows = [r for r in self._state.runs.values() if r.workflow_id == workflow_id]
        rows.sort(key=lambda r: r.created_at, reverse=True)  # BUG: no id tie-break
        start = int(cursor) if cursor else 0
        page = rows[start : start + limit]
        more = start + limit < len(rows)
        return Page[WorkflowRun](
            items=[copy(r) for r in page], next_cursor=str(start + limit) if more else None
        )


class LimitBeforeStatusFilter(MemoryRemediationStore):
    """Takes the newest ``limit`` candidates, then filters them by status."""

    async def list_candidates(
        self,
        *,
        workflow_id: UUID | None = None,
        status: RemediationStatus | str | None = None,
        limit: int = 100,
    ) -> list[RemediationCandidate]:
        newest = await super().list_candidates(
            workflow_id=workflow_id, limit=limit
        )  # BUG: limit first
        return [c for c in newest if status is None or c.status == RemediationStatus(status)]


class CheckpointsByCreatedAt(MemoryAgentensorStore):
    """Sorts checkpoints by created_at first (the wrong column), version second."""

    def _of(self, workflow_id: str) -> list[AgentensorCheckpoint]:
        found = [c for c in self._state.checkpoints.values() if c.workflow_id == workflow_id]
        found.sort(key=lambda c: (c.created_at, c.config_version, str(c.id)), reverse=True)  # BUG
        return found


# --- 4. fidelity of values and times -------------------------------------------------------------


def _integral_floats_as_ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)  # BUG: 2.0 comes back as 2 (a JSON library that "simplifies")
    if isinstance(value, dict):
        return {k: _integral_floats_as_ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral_floats_as_ints(v) for v in value]
    return value


class IntegralFloatsBecomeInts(MemoryWorkflowRepository):
    """Returns run payloads with integral floats turned into integers."""

    async def get_run(self, run_id: UUID) -> WorkflowRun:
        run = await super().get_run(run_id)
        return run.model_copy(update={"input_payload": _integral_floats_as_ints(run.input_payload)})


class StartedAtInMilliseconds(MemoryHistoryStore):
    """Stores a history's start time at millisecond precision."""

    async def start_run(self, **kwargs: Any) -> RunHistoryRecord:
        record = await super().start_run(**kwargs)
        stamp = record.started_at.replace(microsecond=record.started_at.microsecond // 1000 * 1000)
        stored = self._state.histories[record.execution_id].model_copy(update={"started_at": stamp})
        self._state.histories[record.execution_id] = stored  # BUG: DATETIME(3)
        return record


class UpdateKeepsUpdatedAt(MemoryWorkflowRepository):
    """An update that forgets to move ``updated_at``."""

    async def update_workflow(
        self, workflow_id: UUID, changes: WorkflowChanges, *, actor: str
    ) -> Workflow:
        before = (
            self._state.workflows[workflow_id].updated_at
            if workflow_id in self._state.workflows
            else None
        )
        updated = await super().update_workflow(workflow_id, changes, actor=actor)
        kept = updated.model_copy(update={"updated_at": before})  # BUG: updated_at not moved
        self._state.put_workflow(kept)
        return copy(kept)


class ItemAddLeavesThreadUntouched(MemoryChatStore):
    """Adds an item without touching its thread's ``updated_at``."""

    async def add_thread_item(self, thread_id: str, item: Any, context: ChatContext) -> None:
        row = self._thread(thread_id, context)
        before = row.updated_at
        await super().add_thread_item(thread_id, item, context)
        row.updated_at = before  # BUG: the thread looks idle to prune_threads


# --- 5. filters ----------------------------------------------------------------------------------


class StatusFilterIgnored(MemoryRemediationStore):
    """Accepts a status filter and ignores it."""

    async def list_candidates(
        self,
        *,
        workflow_id: UUID | None = None,
        status: RemediationStatus | str | None = None,
        limit: int = 100,
    ) -> list[RemediationCandidate]:
        return await super().list_candidates(workflow_id=workflow_id, limit=limit)  # BUG


def _contains_one_level(document: dict[str, Any], fragment: dict[str, Any]) -> bool:
    return all(key in document and document[key] == value for key, value in fragment.items())


class ShallowContainment(MemoryAgentensorStore):
    """Containment checked one level deep: nested fragments must equal whole values."""

    async def list_checkpoints(
        self,
        workflow_id: str,
        *,
        limit: int = 50,
        metrics_contains: dict[str, Any] | None = None,
        metadata_contains: dict[str, Any] | None = None,
    ) -> list[AgentensorCheckpoint]:
        check_limit(limit)
        metrics = normalise_object(metrics_contains, "metrics_contains")
        metadata = normalise_object(metadata_contains, "metadata_contains")
        found = [
            c
            for c in self._of(workflow_id)
            if _contains_one_level(c.metrics, metrics)
            and _contains_one_level(c.metadata, metadata)  # BUG
        ]
        return [copy(c) for c in found[:limit]]


# --- 6. errors and copies ------------------------------------------------------------------------


class UnknownTokenUsageIgnored(MemoryServiceTokenStore):
    """Recording usage of an unknown token silently does nothing."""

    async def record_usage(
        self, identifier: str, *, ip: str | None = None, user_agent: str | None = None
    ) -> None:
        if identifier not in self._state.tokens:
            return  # BUG: should raise TokenNotFoundError
        await super().record_usage(identifier, ip=ip, user_agent=user_agent)


class CheckpointAliasesState(MemoryAgentensorStore):
    """Returns the stored checkpoint itself: a caller's change to its metrics is stored."""

    async def get_checkpoint(self, checkpoint_id: UUID) -> AgentensorCheckpoint:
        await super().get_checkpoint(checkpoint_id)
        return self._state.checkpoints[checkpoint_id]  # BUG: no copy


__all__ = [
    "AlertKeyedWithoutTemplate",
    "CheckpointAliasesState",
    "CheckpointsByCreatedAt",
    "CredentialNameWidthFolded",
    "DedupeKeySharedAcrossSubscriptions",
    "IdempotentAcrossClosedCandidates",
    "IntegralFloatsBecomeInts",
    "ItemAddLeavesThreadUntouched",
    "ItemDeletedFromAnyThread",
    "LimitBeforeStatusFilter",
    "RunsWithoutTieBreak",
    "ShallowContainment",
    "StartedAtInMilliseconds",
    "StatusFilterIgnored",
    "SyncDisablesOtherWorkflows",
    "TokenHashPrefixMatch",
    "TokenIdFirst16Chars",
    "UnknownTokenUsageIgnored",
    "UpdateKeepsUpdatedAt",
    "VersionNumberFromAnyWorkflow",
]
