"""The error hierarchy every backend raises.

One root, :class:`StorageError`, with subclasses named for what went wrong rather
than for which driver noticed it. Backends translate every driver exception into
one of these at their boundary; a raw ``sqlite3`` or ``psycopg`` exception never
reaches a caller. Messages never contain connection strings or secrets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any


class StorageError(Exception):
    """Root of every error raised by the storage layer."""


# --- not found ---------------------------------------------------------------------------------


class NotFoundError(StorageError):
    """An entity does not exist (or is not visible in the caller's context).

    Attributes:
        entity: the kind of entity that was looked up, e.g. ``"workflow"``.
        key: the identifier that was not found.
    """

    entity = "entity"

    def __init__(self, key: Any, message: str | None = None) -> None:
        self.key = key
        super().__init__(message or f"{self.entity} not found: {key}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from key and message (the default would pass the message as the key).
        return type(self), (self.key, str(self))


class WorkflowNotFoundError(NotFoundError):
    entity = "workflow"


class VersionNotFoundError(NotFoundError):
    entity = "workflow version"


class RunNotFoundError(NotFoundError):
    entity = "workflow run"


class CronTriggerNotFoundError(NotFoundError):
    entity = "cron trigger"


class SubscriptionNotFoundError(NotFoundError):
    entity = "listener subscription"


class RemediationNotFoundError(NotFoundError):
    entity = "remediation candidate"


class ExecutionNotFoundError(NotFoundError):
    entity = "run history"


class TokenNotFoundError(NotFoundError):
    entity = "service token"


class CheckpointNotFoundError(NotFoundError):
    entity = "agentensor checkpoint"


class CredentialNotFoundError(NotFoundError):
    entity = "credential"


class TemplateNotFoundError(NotFoundError):
    entity = "credential template"


class AlertNotFoundError(NotFoundError):
    entity = "governance alert"


# ThreadNotFoundError, ItemNotFoundError and AttachmentNotFoundError (the ChatKit store's) are
# also chatkit.store.NotFoundError, so the real ChatKit server answers them as not found. They
# are defined in orcheo_storage._chat_errors and imported from there on first use (see
# __getattr__ below), so that importing this module does not import ChatKit.
_CHAT_ERRORS = frozenset({"ThreadNotFoundError", "ItemNotFoundError", "AttachmentNotFoundError"})

if TYPE_CHECKING:
    from orcheo_storage._chat_errors import AttachmentNotFoundError as AttachmentNotFoundError
    from orcheo_storage._chat_errors import ItemNotFoundError as ItemNotFoundError
    from orcheo_storage._chat_errors import ThreadNotFoundError as ThreadNotFoundError


# --- conflicts and state -------------------------------------------------------------------------


class ConflictError(StorageError):
    """A uniqueness rule would be broken (duplicate id, taken handle or name)."""


class HandleConflictError(ConflictError):
    """The handle is held by another non-archived workflow."""

    def __init__(self, handle: str) -> None:
        self.handle = handle
        super().__init__(f"workflow handle is already in use: {handle!r}")


class DuplicateError(ConflictError):
    """An entity with this identifier already exists."""

    def __init__(self, entity: str, key: Any) -> None:
        self.entity = entity
        self.key = key
        super().__init__(f"{entity} already exists: {key}")


class InvalidTransitionError(StorageError):
    """A state machine does not allow the requested transition."""

    def __init__(self, entity: str, key: Any, current: str, target: str) -> None:
        self.entity = entity
        self.key = key
        self.current = current
        self.target = target
        super().__init__(f"cannot move {entity} {key} from {current!r} to {target!r}")


class PublishStateError(StorageError):
    """Publishing an already public workflow, or revoking one that is not public."""


class SecretUnchangedError(StorageError):
    """A rotation was asked with the secret the credential already holds."""


class DecryptionError(StorageError):
    """A stored ciphertext could not be decrypted (wrong key or tampered data)."""


# --- input ----------------------------------------------------------------------------------------


class ValidationError(StorageError, ValueError):
    """Input was rejected before anything was written.

    Attributes:
        field: dotted path of the offending value when known (``"graph.nodes[2].name"``).
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


# --- availability ---------------------------------------------------------------------------------


class BackendUnavailableError(StorageError):
    """The backend cannot serve requests right now (server down, connection lost).

    Retryable: the same request may succeed later.
    """

    retryable = True


class BackendBusyError(BackendUnavailableError):
    """The backend is saturated (pool exhausted, lock wait timed out). Retryable."""


class UnsupportedError(StorageError):
    """The backend does not provide this subsystem or capability."""


# --- configuration and plugins ------------------------------------------------------------------


class ConfigurationError(StorageError):
    """Settings are invalid or inconsistent (raised at start-up)."""


class SchemaBehindError(ConfigurationError):
    """Schema steps are pending and ``ORCHEO_AUTO_MIGRATE`` is off.

    Attributes:
        pending: labels of the steps not yet applied.
    """

    def __init__(self, message: str, pending: list[str]) -> None:
        self.pending = list(pending)
        super().__init__(message)


class ForeignFilesError(ConfigurationError):
    """A backend was pointed at database files it did not write, in a layout it does not know.

    Nothing was opened or changed. Attributes:
        files: path -> layout found (``"orcheo-legacy"``, ``"mixed"``, ``"unknown"``,
            ``"not-sqlite"``).
    """

    def __init__(self, message: str, files: dict[str, str]) -> None:
        self.files = dict(files)
        super().__init__(message)


class LegacyFilesError(ForeignFilesError):
    """Some of those files are today's Orcheo files: they must be migrated, not opened.

    Attributes:
        commands: destination (``"postgres"``, ``"sqlite"``) -> the exact ``orcheo-storage
            migrate run`` command that carries the files there.
    """

    def __init__(self, message: str, files: dict[str, str], commands: dict[str, str]) -> None:
        self.commands = dict(commands)
        super().__init__(message, files)


class PluginError(ConfigurationError):
    """Base of the errors raised while discovering or selecting a backend plugin."""


class UnknownBackendError(PluginError):
    """No plugin of that name is installed and none is known to exist."""

    def __init__(self, name: str, installed: list[str], suggestion: str | None) -> None:
        self.name = name
        self.installed = installed
        self.suggestion = suggestion
        hint = f" Did you mean {suggestion!r}?" if suggestion else ""
        names = ", ".join(installed) or "none"
        super().__init__(f"unknown storage backend {name!r}.{hint} Installed backends: {names}.")


class BackendNotInstalledError(PluginError):
    """A known backend was selected but its distribution is not installed."""

    def __init__(self, name: str, distribution: str) -> None:
        self.name = name
        self.distribution = distribution
        super().__init__(
            f"storage backend {name!r} is not installed. "
            f"Install it with: pip install {distribution}"
        )


class DefaultBackendNotInstalledError(BackendNotInstalledError):
    """The backend some subsystems use by default (their variable is not set) is not installed.

    Attributes:
        variables: the unset ``ORCHEO_*_BACKEND`` variables that default to ``name``.
        installed: names of the backends that are installed.
    """

    def __init__(
        self, name: str, distribution: str, variables: list[str], installed: list[str]
    ) -> None:
        self.name = name
        self.distribution = distribution
        self.variables = variables
        self.installed = installed
        choices = ", ".join(installed) or "none"
        PluginError.__init__(
            self,
            f"storage backend {name!r} is not installed. It is the default of "
            f"{', '.join(variables)}, which {'is' if len(variables) == 1 else 'are'} not set: "
            f"set {'it' if len(variables) == 1 else 'them'} to an installed backend "
            f"({choices}), or install it with: pip install {distribution}",
        )


class BackendBrokenError(PluginError):
    """A backend is installed but failed to load or validate (original error chained)."""

    def __init__(
        self, name: str, distribution: str | None, version: str | None, reason: str
    ) -> None:
        self.name = name
        self.distribution = distribution
        self.version = version
        self.reason = reason
        where = f" ({distribution} {version})" if distribution else ""
        super().__init__(f"storage backend {name!r}{where} is installed but broken: {reason}")


class ApiVersionMismatchError(PluginError):
    """A plugin implements a storage API version this host does not support."""


def __getattr__(name: str) -> Any:
    if name in _CHAT_ERRORS:
        from orcheo_storage import _chat_errors

        return getattr(_chat_errors, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _CHAT_ERRORS)


__all__ = sorted(
    [
        name
        for name, obj in globals().items()
        if isinstance(obj, type) and issubclass(obj, Exception)
    ]
    + list(_CHAT_ERRORS)
)
