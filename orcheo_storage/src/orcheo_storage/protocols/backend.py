"""What a backend plugin provides to the host: a manifest, sessions, provisioning, bulk I/O."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

# The manifest part of the contract lives in the light module _manifest (read by the plugin
# host without importing the store protocols); re-exported here, its home until now.
from orcheo_storage._manifest import STORAGE_API_VERSION as STORAGE_API_VERSION
from orcheo_storage._manifest import BackendManifest as BackendManifest
from orcheo_storage._manifest import Capability as Capability
from orcheo_storage._manifest import StorageBackend as StorageBackend
from orcheo_storage._manifest import Subsystem as Subsystem
from orcheo_storage.jsoncodec import JsonObject, JsonValue
from orcheo_storage.protocols.agentensor import AgentensorStore
from orcheo_storage.protocols.chat import ChatStore
from orcheo_storage.protocols.coordination import ListenerStore, RemediationStore, TriggerStore
from orcheo_storage.protocols.history import HistoryStore
from orcheo_storage.protocols.tokens import ServiceTokenStore
from orcheo_storage.protocols.vault import VaultRecordStore
from orcheo_storage.protocols.workflows import WorkflowRepository


class SchemaStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    current: int
    latest: int
    pending: list[str]


class HealthReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    ok: bool
    details: dict[str, str] = Field(default_factory=dict)


@runtime_checkable
class BulkTransfer(Protocol):
    """Streaming access to the logical tables of :mod:`orcheo_storage.migration.tables`.

    Rows are the JSON form of the logical table (the same on every backend), so any
    backend can be the source or the target of a migration.
    """

    def export_rows(self, table: str, *, batch_size: int = 1000) -> AsyncIterator[list[JsonObject]]:
        """Yield the table's rows in key order, in batches, with constant memory."""
        ...

    async def count_rows(self, table: str) -> int: ...

    async def import_batch(self, table: str, rows: list[JsonObject], *, batch_id: str) -> bool:
        """Insert ``rows`` and record ``batch_id`` in the ledger in one transaction.

        Returns ``False`` (and writes nothing) when ``batch_id`` was already imported.
        """
        ...

    async def apply_changes(
        self,
        table: str,
        upserts: list[JsonObject],
        deletes: list[list[JsonValue]],
        *,
        batch_id: str,
    ) -> bool:
        """Apply one batch of changes to a logical table, exactly once.

        In one transaction with the ledger row for ``batch_id`` (the same ledger import_batch uses):
        delete the rows whose logical key (migration.tables key columns, in order; dotted key
        columns like ``credential.id`` name the nested value) is in ``deletes``; then insert each
        row of ``upserts``, or, when a row with its logical key exists, update that row in place
        (never delete + insert: children referencing it must survive). Per-parent counters
        (version numbering, history step counts, chat item ordinals, checkpoint versions, the
        token audit sequence) are raised exactly as import_batch raises them, never lowered.
        Returns False and changes nothing when ``batch_id`` is already in the ledger.
        Rows are validated exactly as import_batch validates them; a bad row raises the same
        typed errors (ValidationError / ConflictError / NotFoundError) and nothing of the batch stays.
        """
        ...

    async def fetch_rows(self, table: str, keys: list[list[JsonValue]]) -> list[JsonObject]:
        """The rows of ``table`` whose logical key is one of ``keys`` (absent keys are skipped).

        Keys are given as :func:`~orcheo_storage.migration.canonical.row_key` returns them
        for an exported row; rows come back in the form :meth:`export_rows` yields them, in
        any order. This is how an incremental sync reads back what it changed.
        """
        ...

    async def imported_batches(self) -> set[str]: ...


@runtime_checkable
class BackendSession(Protocol):
    """An open backend: its pools or files, and the stores that share them."""

    def workflows(self) -> WorkflowRepository: ...

    def triggers(self) -> TriggerStore: ...

    def listeners(self) -> ListenerStore: ...

    def remediations(self) -> RemediationStore: ...

    def history(self) -> HistoryStore: ...

    def service_tokens(self) -> ServiceTokenStore: ...

    def agentensor(self) -> AgentensorStore: ...

    def vault_records(self) -> VaultRecordStore: ...

    def chatkit(self) -> ChatStore: ...

    def langgraph_checkpointer(self) -> AbstractAsyncContextManager[Any]:
        """LangGraph's own checkpointer for this backend's database (capability ``langgraph``)."""
        ...

    def bulk(self) -> BulkTransfer: ...

    async def health(self) -> HealthReport: ...

    async def schema_status(self) -> SchemaStatus: ...

    async def migrate_schema(self, *, dry_run: bool = False) -> list[str]:
        """Apply pending schema steps under a lock (or only list them); returns their names."""
        ...

    async def close(self) -> None: ...
