"""The data of one in-memory session, and the copy-in / copy-out helper.

Every store of a session shares one :class:`MemoryState`. Store methods never ``await``
between reading and writing it, so each call is atomic with respect to other tasks on
the event loop (the in-memory backend is single-process by design).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from pydantic import BaseModel

from orcheo_storage.crypto import VaultCipher
from orcheo_storage.jsoncodec import JsonObject
from orcheo_storage.models.agentensor import AgentensorCheckpoint
from orcheo_storage.models.history import RunHistoryRecord, RunHistoryStep
from orcheo_storage.models.listeners import ListenerCursor, ListenerSubscription
from orcheo_storage.models.remediations import RemediationCandidate
from orcheo_storage.models.tokens import ServiceToken, TokenAuditEvent
from orcheo_storage.models.triggers import CronConfig, RetryPolicy
from orcheo_storage.models.vault import CredentialTemplate, GovernanceAlert, StoredCredential
from orcheo_storage.models.workflows import Workflow, WorkflowRun, WorkflowVersion

if TYPE_CHECKING:
    from chatkit.types import Attachment, ThreadItem, ThreadMetadata

M = TypeVar("M", bound=BaseModel)


def copy(model: M) -> M:
    """A deep copy, so neither the caller nor the store can mutate the other's object."""
    return model.model_copy(deep=True)


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


@dataclass
class AttachmentRow:
    attachment: Attachment
    thread_id: str | None
    storage_path: str | None
    created_at: datetime


@dataclass
class MemoryState:
    """Every table of the in-memory backend. Lives exactly as long as its session."""

    cipher: VaultCipher
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
    dedupe: dict[tuple[UUID, str], datetime] = field(default_factory=dict)
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
    # chatkit
    threads: dict[str, ThreadRow] = field(default_factory=dict)
    items: dict[str, ItemRow] = field(default_factory=dict)
    attachments: dict[str, AttachmentRow] = field(default_factory=dict)
    # bulk import ledger
    imported_batches: set[str] = field(default_factory=set)

    def next_token_audit_seq(self) -> int:
        self.token_audit_seq += 1
        return self.token_audit_seq


def sort_key_id(created_at: datetime, ident: Any) -> tuple[datetime, str]:
    """The (created_at, id) ordering every list uses; UUID strings sort like UUID bytes."""
    return (created_at, str(ident))
