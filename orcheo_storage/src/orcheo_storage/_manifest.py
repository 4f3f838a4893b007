"""The light part of the plugin contract: API version, subsystems, capabilities, manifest.

Kept apart from :mod:`orcheo_storage.protocols.backend` (which re-exports everything here)
so that the plugin host, ``orcheo-storage backends`` and plugin entry-point modules can
read manifests without importing the store protocols and their models.
"""

from __future__ import annotations

import enum
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from orcheo_storage.protocols.backend import BackendSession
    from orcheo_storage.settings import StorageSettings

STORAGE_API_VERSION = 1
"""The plugin contract version this host implements. Bumped on incompatible change."""


class Subsystem(enum.StrEnum):
    """The storage subsystems a backend may provide."""

    WORKFLOWS = "workflows"
    TRIGGERS = "triggers"
    LISTENERS = "listeners"
    REMEDIATIONS = "remediations"
    HISTORY = "history"
    SERVICE_TOKENS = "service_tokens"
    AGENTENSOR = "agentensor"
    VAULT = "vault"
    CHATKIT = "chatkit"
    LANGGRAPH = "langgraph"


class Capability(enum.StrEnum):
    """Optional abilities a backend may declare. Undeclared -> contract tests skip them."""

    JSON_CONTAINMENT = "json_containment"
    FULL_TEXT_SEARCH = "full_text_search"
    CROSS_PROCESS_ATOMIC = "cross_process_atomic"
    BULK_COPY = "bulk_copy"
    LANGGRAPH = "langgraph"
    PERSISTENT = "persistent"


class BackendManifest(BaseModel):
    """Who a backend is and what it offers."""

    model_config = ConfigDict(frozen=True)

    name: str
    distribution: str
    version: str
    api_version: int
    subsystems: frozenset[Subsystem]
    capabilities: frozenset[Capability] = Field(default_factory=frozenset)
    description: str = ""


@runtime_checkable
class StorageBackend(Protocol):
    """The object a plugin's ``orcheo_storage_backend`` hook returns."""

    @property
    def manifest(self) -> BackendManifest: ...

    async def open(self, settings: StorageSettings) -> BackendSession:
        """Open pools/files for ``settings``; apply schema migrations when ``settings.auto_migrate``."""
        ...

    def provision(
        self, settings: StorageSettings, workdir: Path
    ) -> AbstractAsyncContextManager[StorageSettings]:
        """Yield settings pointing at a fresh, empty, isolated namespace; drop it on exit."""
        ...
