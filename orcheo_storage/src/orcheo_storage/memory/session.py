"""The in-memory backend session: one :class:`MemoryState` shared by every store.

Data lives exactly as long as the session: each ``open()`` starts empty and
``close()`` drops everything. Nothing is shared between sessions or processes.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from orcheo_storage.crypto import VaultCipher
from orcheo_storage.errors import BackendUnavailableError, UnsupportedError
from orcheo_storage.memory._lifecycle import CLOSED_MESSAGE
from orcheo_storage.memory._state import MemoryState
from orcheo_storage.memory.agentensor import MemoryAgentensorStore
from orcheo_storage.memory.bulk import MemoryBulkTransfer
from orcheo_storage.memory.history import MemoryHistoryStore
from orcheo_storage.memory.listeners import MemoryListenerStore
from orcheo_storage.memory.remediations import MemoryRemediationStore
from orcheo_storage.memory.tokens import MemoryServiceTokenStore
from orcheo_storage.memory.triggers import MemoryTriggerStore
from orcheo_storage.memory.vault import MemoryVaultRecordStore
from orcheo_storage.memory.workflows import MemoryWorkflowRepository
from orcheo_storage.protocols.backend import HealthReport, SchemaStatus
from orcheo_storage.protocols.chat import ChatStore

SCHEMA_VERSION = 1


class MemorySession:
    """:class:`~orcheo_storage.protocols.backend.BackendSession` of the memory backend.

    Stores are created once per session, so ``session.workflows()`` always returns the
    same object.
    """

    def __init__(self, cipher: VaultCipher | Callable[[], VaultCipher]) -> None:
        """Args:
        cipher: the webhook-secret cipher, or a factory called on first use.
        """
        source = (lambda: cipher) if isinstance(cipher, VaultCipher) else cipher
        self._state: MemoryState | None = MemoryState(cipher_source=source)
        state = self._state
        self._workflows = MemoryWorkflowRepository(state)
        self._triggers = MemoryTriggerStore(state)
        self._listeners = MemoryListenerStore(state)
        self._remediations = MemoryRemediationStore(state)
        self._history = MemoryHistoryStore(state)
        self._tokens = MemoryServiceTokenStore(state)
        self._agentensor = MemoryAgentensorStore(state)
        self._vault = MemoryVaultRecordStore(state)
        self._bulk = MemoryBulkTransfer(state)
        self._chat: ChatStore | None = None

    def __repr__(self) -> str:
        return f"MemorySession(open={self._state is not None})"

    def _open_state(self) -> MemoryState:
        if self._state is None:
            raise BackendUnavailableError(CLOSED_MESSAGE)
        return self._state

    def workflows(self) -> MemoryWorkflowRepository:
        self._open_state()
        return self._workflows

    def triggers(self) -> MemoryTriggerStore:
        self._open_state()
        return self._triggers

    def listeners(self) -> MemoryListenerStore:
        self._open_state()
        return self._listeners

    def remediations(self) -> MemoryRemediationStore:
        self._open_state()
        return self._remediations

    def history(self) -> MemoryHistoryStore:
        self._open_state()
        return self._history

    def service_tokens(self) -> MemoryServiceTokenStore:
        self._open_state()
        return self._tokens

    def agentensor(self) -> MemoryAgentensorStore:
        self._open_state()
        return self._agentensor

    def vault_records(self) -> MemoryVaultRecordStore:
        self._open_state()
        return self._vault

    def chatkit(self) -> ChatStore:
        """The ChatKit store (imports ``openai-chatkit`` on first use).

        Raises:
            UnsupportedError: the ``openai-chatkit`` package is not installed.
        """
        state = self._open_state()
        if self._chat is None:
            try:
                from orcheo_storage.memory.chat import MemoryChatStore
            except ImportError as exc:  # pragma: no cover - chatkit is a declared extra
                raise UnsupportedError(
                    "the ChatKit store needs the openai-chatkit package (orcheo-storage[chatkit])"
                ) from exc
            self._chat = MemoryChatStore(state)
        return self._chat

    def langgraph_checkpointer(self) -> AbstractAsyncContextManager[Any]:
        """Raises ``UnsupportedError``: the memory backend has no LangGraph persistence."""
        raise UnsupportedError("the memory storage backend does not provide LangGraph persistence")

    def bulk(self) -> MemoryBulkTransfer:
        self._open_state()
        return self._bulk

    async def health(self) -> HealthReport:
        if self._state is None:
            return HealthReport(ok=False, details={"state": "closed"})
        return HealthReport(ok=True, details={"backend": "memory", "persistent": "no"})

    async def schema_status(self) -> SchemaStatus:
        return SchemaStatus(current=SCHEMA_VERSION, latest=SCHEMA_VERSION, pending=[])

    async def migrate_schema(self, *, dry_run: bool = False) -> list[str]:
        """Nothing to migrate: the in-memory layout is always current."""
        return []

    async def close(self) -> None:
        """Drop every stored record; stores handed out before refuse later calls. Idempotent."""
        if self._state is not None:
            self._state.closed = True
        self._state = None
