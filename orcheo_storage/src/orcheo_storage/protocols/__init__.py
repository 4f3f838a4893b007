"""Typed protocols of every storage subsystem and of the backend plugin contract."""

from orcheo_storage.protocols.agentensor import AgentensorStore
from orcheo_storage.protocols.backend import (
    STORAGE_API_VERSION,
    BackendManifest,
    BackendSession,
    BulkTransfer,
    Capability,
    HealthReport,
    SchemaStatus,
    StorageBackend,
    Subsystem,
)
from orcheo_storage.protocols.chat import ChatStore
from orcheo_storage.protocols.coordination import ListenerStore, RemediationStore, TriggerStore
from orcheo_storage.protocols.history import HistoryStore
from orcheo_storage.protocols.tokens import ServiceTokenStore
from orcheo_storage.protocols.vault import VaultRecordStore
from orcheo_storage.protocols.workflows import WorkflowRepository

__all__ = [
    "STORAGE_API_VERSION",
    "AgentensorStore",
    "BackendManifest",
    "BackendSession",
    "BulkTransfer",
    "Capability",
    "ChatStore",
    "HealthReport",
    "HistoryStore",
    "ListenerStore",
    "RemediationStore",
    "SchemaStatus",
    "ServiceTokenStore",
    "StorageBackend",
    "Subsystem",
    "TriggerStore",
    "VaultRecordStore",
    "WorkflowRepository",
]
