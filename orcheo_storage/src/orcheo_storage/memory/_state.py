"""The data of one in-memory session, and the copy-in / copy-out helper.

Every store of a session shares one :class:`MemoryState`. Store methods never ``await``
between reading and writing it, so each call is atomic with respect to other tasks on
the event loop (the in-memory backend is single-process by design).
"""

from __future__ import annotations

import bisect
import enum
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from pydantic import BaseModel

from orcheo_storage.crypto import VaultCipher
from orcheo_storage.jsoncodec import JsonObject
from orcheo_storage.models.agentensor import AgentensorCheckpoint
from orcheo_storage.models.common import build
from orcheo_storage.models.history import RunHistoryRecord, RunHistoryStep
from orcheo_storage.models.listeners import ListenerCursor, ListenerSubscription
from orcheo_storage.models.remediations import RemediationCandidate
from orcheo_storage.models.tokens import ServiceToken, TokenAuditEvent
from orcheo_storage.models.triggers import CronConfig, RetryPolicy
from orcheo_storage.models.vault import (
    CredentialTemplate,
    EncryptedSecret,
    GovernanceAlert,
    StoredCredential,
)
from orcheo_storage.models.workflows import Workflow, WorkflowRun, WorkflowVersion

if TYPE_CHECKING:
    from chatkit.types import Attachment, ThreadItem, ThreadMetadata

M = TypeVar("M", bound=BaseModel)


def copy(model: M) -> M:
    """A deep copy, so neither the caller nor the store can mutate the other's object."""
    clone: M = _clone(model)
    return clone


# Values that cannot be changed in place, so copies may share them.
_IMMUTABLE = (str, int, float, Decimal, datetime, date, time, timedelta, UUID, enum.Enum, bytes)


def _clone(value: Any) -> Any:
    # ``model_copy(deep=True)`` goes through ``copy.deepcopy`` and costs ~10x more; only the
    # containers can be mutated in place (models here are frozen), so only they are copied.
    if value is None or isinstance(value, _IMMUTABLE):
        return value
    if isinstance(value, BaseModel):
        new = value.__copy__()  # a shallow copy with its own ``__dict__``
        fields = new.__dict__
        for name, item in fields.items():
            fields[name] = _clone(item)
        return new
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clone(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_clone(v) for v in value)
    return deepcopy(value)


def copy_in(model: M) -> M:
    """A re-validated deep copy of a model handed to the store.

    A caller can bypass validation (``model_copy(update=...)``, ``model_construct``); the
    stored copy is validated again so hostile input never gets in.

    Raises:
        ValidationError: the model's data breaks its rules.
    """
    return build(type(model), **model.model_dump())


@dataclass
class ThreadRow:
    """A stored ChatKit thread: its metadata plus bookkeeping ChatKit does not carry."""

    thread: ThreadMetadata
    updated_at: datetime
    workflow_id: str | None


@dataclass
class ItemRow:
    thread_id: str
    ordinal: int
    item: ThreadItem
    # The item's JSON as a bulk import gave it, exported verbatim: an older ChatKit's keys
    # that this one ignores (they are not in ``item``) are kept. ``None``: dump ``item``.
    document: dict[str, Any] | None = None


@dataclass
class AttachmentRow:
    attachment: Attachment
    thread_id: str | None
    storage_path: str | None
    created_at: datetime
    document: dict[str, Any] | None = None  # as for ItemRow


@dataclass
class MemoryState:
    """Every table of the in-memory backend. Lives exactly as long as its session.

    The ``put_*`` / ``drop_*`` methods keep the secondary indexes (active handles,
    versions, runs and histories per workflow, items per thread) in step with the
    tables; stores and bulk import write through them.
    """

    cipher_source: Callable[[], VaultCipher]
    # workflow repository
    workflows: dict[UUID, Workflow] = field(default_factory=dict)
    versions: dict[UUID, WorkflowVersion] = field(default_factory=dict)
    runs: dict[UUID, WorkflowRun] = field(default_factory=dict)
    # triggers (webhook configs are stored sealed: secrets as encryption envelopes)
    webhooks: dict[UUID, JsonObject] = field(default_factory=dict)
    crons: dict[UUID, CronConfig] = field(default_factory=dict)
    cron_dispatch: dict[UUID, datetime] = field(default_factory=dict)
    retry_policies: dict[UUID, RetryPolicy] = field(default_factory=dict)
    retry_attempts: dict[UUID, int] = field(default_factory=dict)
    # listeners
    subscriptions: dict[UUID, ListenerSubscription] = field(default_factory=dict)
    cursors: dict[UUID, ListenerCursor] = field(default_factory=dict)
    # (subscription, key) -> (expires_at, created_at); created_at is None for imported rows
    # that had none.
    dedupe: dict[tuple[UUID, str], tuple[datetime, datetime | None]] = field(default_factory=dict)
    # remediations
    candidates: dict[UUID, RemediationCandidate] = field(default_factory=dict)
    # history (records are kept without steps; steps live in ``steps``)
    histories: dict[str, RunHistoryRecord] = field(default_factory=dict)
    steps: dict[str, list[RunHistoryStep]] = field(default_factory=dict)
    # service tokens
    tokens: dict[str, ServiceToken] = field(default_factory=dict)
    token_hashes: dict[str, str] = field(default_factory=dict)
    token_audit: list[tuple[int, TokenAuditEvent]] = field(default_factory=list)
    token_audit_seq: int = 0
    # agentensor
    checkpoints: dict[UUID, AgentensorCheckpoint] = field(default_factory=dict)
    # vault
    credentials: dict[UUID, StoredCredential] = field(default_factory=dict)
    templates: dict[UUID, CredentialTemplate] = field(default_factory=dict)
    alerts: dict[UUID, GovernanceAlert] = field(default_factory=dict)
    key_checks: dict[str, EncryptedSecret] = field(default_factory=dict)
    # chatkit
    threads: dict[str, ThreadRow] = field(default_factory=dict)
    items: dict[str, ItemRow] = field(default_factory=dict)
    attachments: dict[str, AttachmentRow] = field(default_factory=dict)
    # bulk import ledger
    imported_batches: set[str] = field(default_factory=set)
    # secondary indexes
    active_handles: dict[str, UUID] = field(default_factory=dict)
    versions_by_workflow: dict[UUID, dict[int, UUID]] = field(default_factory=dict)
    # (created_at, id) / (started_at, execution_id) keys, kept sorted for keyset pages
    runs_by_workflow: dict[UUID, list[tuple[datetime, UUID]]] = field(default_factory=dict)
    histories_by_workflow: dict[str, list[tuple[datetime, str]]] = field(default_factory=dict)
    items_by_thread: dict[str, set[str]] = field(default_factory=dict)
    _cipher: VaultCipher | None = None
    closed: bool = False

    @property
    def cipher(self) -> VaultCipher:
        """The webhook-secret cipher, made on first use (a key file may be involved)."""
        if self._cipher is None:
            self._cipher = self.cipher_source()
        return self._cipher

    def next_token_audit_seq(self) -> int:
        self.token_audit_seq += 1
        return self.token_audit_seq

    def put_workflow(self, workflow: Workflow) -> None:
        old = self.workflows.get(workflow.id)
        if old is not None and old.handle and self.active_handles.get(old.handle) == old.id:
            del self.active_handles[old.handle]
        self.workflows[workflow.id] = workflow
        if workflow.handle and not workflow.is_archived:
            self.active_handles[workflow.handle] = workflow.id

    def put_version(self, version: WorkflowVersion) -> None:
        self.versions[version.id] = version
        self.versions_by_workflow.setdefault(version.workflow_id, {})[version.version] = version.id

    def put_run(self, run: WorkflowRun) -> None:
        # The sort key (created_at, id) never changes, so only new runs enter the index.
        if run.id not in self.runs:
            bisect.insort(
                self.runs_by_workflow.setdefault(run.workflow_id, []), (run.created_at, run.id)
            )
        self.runs[run.id] = run

    def put_history(self, record: RunHistoryRecord) -> None:
        if record.execution_id not in self.histories:
            bisect.insort(
                self.histories_by_workflow.setdefault(record.workflow_id, []),
                (record.started_at, record.execution_id),
            )
        self.histories[record.execution_id] = record
        self.steps.setdefault(record.execution_id, [])

    def put_item(self, item_id: str, row: ItemRow) -> None:
        self.items[item_id] = row
        self.items_by_thread.setdefault(row.thread_id, set()).add(item_id)

    def drop_item(self, item_id: str) -> None:
        row = self.items.pop(item_id, None)
        if row is not None:
            self.items_by_thread.get(row.thread_id, set()).discard(item_id)

    def thread_items(self, thread_id: str) -> list[tuple[str, ItemRow]]:
        """A thread's items in (ordinal, id) order."""
        rows = [(i, self.items[i]) for i in self.items_by_thread.get(thread_id, ())]
        rows.sort(key=lambda pair: (pair[1].ordinal, pair[0]))
        return rows


def sort_key_id(created_at: datetime, ident: Any) -> tuple[datetime, str]:
    """The (created_at, id) ordering every list uses; UUID strings sort like UUID bytes."""
    return (created_at, str(ident))
