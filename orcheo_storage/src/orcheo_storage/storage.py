"""Opening storage: ``async with open_storage(settings) as storage: ...``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from orcheo_storage.boundary import guarded
from orcheo_storage.crypto import VaultCipher
from orcheo_storage.errors import ConfigurationError, UnsupportedError
from orcheo_storage.keycheck import verify_vault_key
from orcheo_storage.keys import cipher_for
from orcheo_storage.plugins.registry import BackendRegistry, create_registry
from orcheo_storage.plugins.selection import select_backend
from orcheo_storage.protocols.agentensor import AgentensorStore
from orcheo_storage.protocols.backend import (
    BackendManifest,
    BackendSession,
    StorageBackend,
    Subsystem,
)
from orcheo_storage.protocols.chat import ChatStore
from orcheo_storage.protocols.coordination import ListenerStore, RemediationStore, TriggerStore
from orcheo_storage.protocols.history import HistoryStore
from orcheo_storage.protocols.tokens import ServiceTokenStore
from orcheo_storage.protocols.workflows import WorkflowRepository
from orcheo_storage.settings import BACKEND_SETTINGS, StorageSettings, load_settings
from orcheo_storage.vault import CredentialVault


class Storage:
    """The open stores of every subsystem, each served by its configured backend."""

    def __init__(
        self,
        settings: StorageSettings,
        sessions: dict[str, BackendSession],
        manifests: dict[str, BackendManifest],
    ) -> None:
        self.settings = settings
        self._sessions = sessions
        self._manifests = manifests
        self._selected = settings.selected_backends()
        self._vault: CredentialVault | None = None
        self._cipher: VaultCipher | None = None
        self._wrappers: dict[Subsystem, Any] = {}

    def __repr__(self) -> str:
        return f"Storage(backends={self.backend_names()!r})"

    def backend_names(self) -> dict[str, str]:
        """Subsystem -> backend name."""
        return {sub.value: name for sub, name in self._selected.items()}

    def session_for(self, subsystem: Subsystem) -> BackendSession:
        """The backend session serving ``subsystem``.

        Raises:
            UnsupportedError: the selected backend does not provide it.
        """
        name = self._selected[subsystem]
        if subsystem not in self._manifests[name].subsystems:
            raise UnsupportedError(
                f"storage backend {name!r} does not provide the {subsystem.value} subsystem"
            )
        return self._sessions[name]

    def sessions(self) -> dict[str, BackendSession]:
        return dict(self._sessions)

    def _guarded(self, subsystem: Subsystem, contract: type, make: Callable[[], Any]) -> Any:
        """The store of ``subsystem`` behind the core boundary (:mod:`orcheo_storage.boundary`)."""
        wrapper = self._wrappers.get(subsystem)
        if wrapper is None:
            store = make()
            bases = _chatkit_bases(store) if subsystem is Subsystem.CHATKIT else ()
            wrapper = self._wrappers[subsystem] = guarded(store, contract, bases=bases)
        return wrapper

    @property
    def workflows(self) -> WorkflowRepository:
        session = self.session_for(Subsystem.WORKFLOWS)
        repo: WorkflowRepository = self._guarded(
            Subsystem.WORKFLOWS, WorkflowRepository, session.workflows
        )
        return repo

    @property
    def triggers(self) -> TriggerStore:
        session = self.session_for(Subsystem.TRIGGERS)
        store: TriggerStore = self._guarded(Subsystem.TRIGGERS, TriggerStore, session.triggers)
        return store

    @property
    def listeners(self) -> ListenerStore:
        session = self.session_for(Subsystem.LISTENERS)
        store: ListenerStore = self._guarded(Subsystem.LISTENERS, ListenerStore, session.listeners)
        return store

    @property
    def remediations(self) -> RemediationStore:
        session = self.session_for(Subsystem.REMEDIATIONS)
        store: RemediationStore = self._guarded(
            Subsystem.REMEDIATIONS, RemediationStore, session.remediations
        )
        return store

    @property
    def history(self) -> HistoryStore:
        session = self.session_for(Subsystem.HISTORY)
        store: HistoryStore = self._guarded(Subsystem.HISTORY, HistoryStore, session.history)
        return store

    @property
    def service_tokens(self) -> ServiceTokenStore:
        session = self.session_for(Subsystem.SERVICE_TOKENS)
        store: ServiceTokenStore = self._guarded(
            Subsystem.SERVICE_TOKENS, ServiceTokenStore, session.service_tokens
        )
        return store

    @property
    def agentensor(self) -> AgentensorStore:
        session = self.session_for(Subsystem.AGENTENSOR)
        store: AgentensorStore = self._guarded(
            Subsystem.AGENTENSOR, AgentensorStore, session.agentensor
        )
        return store

    @property
    def vault(self) -> CredentialVault:
        if self._vault is None:
            records = self.session_for(Subsystem.VAULT).vault_records()
            self._vault = guarded(CredentialVault(records, self._vault_cipher()), CredentialVault)
        return self._vault

    def _vault_cipher(self) -> VaultCipher:
        if self._cipher is None:
            self._cipher = cipher_for(self.settings)
        return self._cipher

    async def verify_vault_key(self) -> None:
        """Refuse a vault key that is not this vault's (see :mod:`orcheo_storage.keycheck`).

        Called by :func:`open_storage`; does nothing when the vault's backend does not
        provide the vault.

        Raises:
            ConfigurationError: wrong key, or no key while the vault or the repository is on
                a shared server.
        """
        name = self._selected[Subsystem.VAULT]
        if Subsystem.VAULT not in self._manifests[name].subsystems:
            return
        await verify_vault_key(self.vault.records, self._vault_cipher())

    @property
    def chatkit(self) -> ChatStore:
        session = self.session_for(Subsystem.CHATKIT)
        store: ChatStore = self._guarded(Subsystem.CHATKIT, ChatStore, session.chatkit)
        return store

    def langgraph_checkpointer(self) -> AbstractAsyncContextManager[Any]:
        """LangGraph's own checkpointer on the configured checkpoint backend."""
        return self.session_for(Subsystem.LANGGRAPH).langgraph_checkpointer()


@asynccontextmanager
async def open_storage(
    settings: StorageSettings | None = None, *, registry: BackendRegistry | None = None
) -> AsyncIterator[Storage]:
    """Open the backends selected by ``settings`` (default: from the environment).

    Only selected backends are opened; subsystems on the same backend share one session
    (one pool, one set of files). Everything is closed on exit, also on error.

    Raises:
        ConfigurationError: invalid settings, a selection error (unknown, not installed or
            broken backend) from the plugin host (a backend selected only by default that is
            not installed names the variables to set:
            :class:`~orcheo_storage.errors.DefaultBackendNotInstalledError`), or a vault key
            that is not this vault's.
    """
    settings = settings or load_settings()
    registry = registry or create_registry(strict=settings.plugins_strict)
    backends: dict[str, StorageBackend] = {}
    for name in dict.fromkeys(settings.selected_backends().values()):
        backends[name] = select_backend(registry, settings, name)
    sessions: dict[str, BackendSession] = {}
    try:
        for name, backend in backends.items():
            sessions[name] = await backend.open(settings)
        storage = Storage(settings, sessions, {n: b.manifest for n, b in backends.items()})
        await storage.verify_vault_key()
        yield storage
    finally:
        errors: list[BaseException] = []
        for session in reversed(list(sessions.values())):
            try:
                await session.close()
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]


def _chatkit_bases(store: Any) -> tuple[type, ...]:
    """``chatkit.store.Store`` when the store is one, so the wrapped store still is."""
    try:
        from chatkit.store import Store
    except ImportError:  # pragma: no cover - the chatkit extra is not installed
        return ()
    return (Store,) if isinstance(store, Store) else ()


def _factory(subsystem: Subsystem, attribute: str) -> Any:
    @asynccontextmanager
    async def factory(settings: StorageSettings | None = None) -> AsyncIterator[Any]:
        settings = settings or load_settings()
        async with open_storage(_only(settings, subsystem)) as storage:
            yield getattr(storage, attribute)

    factory.__name__ = f"create_{attribute}"
    factory.__doc__ = f"Open just the {subsystem.value} store: ``async with {factory.__name__}(settings) as store``."
    return factory


def _only(settings: StorageSettings, subsystem: Subsystem) -> StorageSettings:
    """Settings where every other subsystem points at the same backend (opens one backend)."""
    name = settings.selected_backends()[subsystem]
    update = dict.fromkeys(BACKEND_SETTINGS, name)
    try:
        return settings.model_copy(update=update)
    except Exception as exc:  # pragma: no cover - model_copy does not validate
        raise ConfigurationError(str(exc)) from exc


create_repository = _factory(Subsystem.WORKFLOWS, "workflows")
create_trigger_store = _factory(Subsystem.TRIGGERS, "triggers")
create_listener_store = _factory(Subsystem.LISTENERS, "listeners")
create_remediation_store = _factory(Subsystem.REMEDIATIONS, "remediations")
create_history_store = _factory(Subsystem.HISTORY, "history")
create_service_token_store = _factory(Subsystem.SERVICE_TOKENS, "service_tokens")
create_agentensor_store = _factory(Subsystem.AGENTENSOR, "agentensor")
create_vault = _factory(Subsystem.VAULT, "vault")
create_chatkit_store = _factory(Subsystem.CHATKIT, "chatkit")
