"""Settings, read from ``ORCHEO_``-prefixed environment variables.

Names existing deployments use keep working. Backend names are open strings checked
against installed plugins when storage opens; everything else is checked here, at
start-up. The DSN is a :class:`~pydantic.SecretStr` and :meth:`StorageSettings.redacted`
is the only way settings are shown.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from orcheo_storage._manifest import Subsystem
from orcheo_storage.dsn import DsnError, check_dsn
from orcheo_storage.dsn import redact_dsn as redact_dsn  # re-exported: its home until now
from orcheo_storage.errors import ConfigurationError

BACKEND_ALIASES = {
    "file": "sqlite",
    "inmemory": "memory",
    "in_memory": "memory",
    "postgresql": "postgres",
}

SUBSYSTEM_SETTING: dict[Subsystem, str] = {
    Subsystem.WORKFLOWS: "repository_backend",
    Subsystem.TRIGGERS: "repository_backend",
    Subsystem.LISTENERS: "repository_backend",
    Subsystem.REMEDIATIONS: "repository_backend",
    Subsystem.HISTORY: "repository_backend",
    Subsystem.AGENTENSOR: "repository_backend",
    Subsystem.LANGGRAPH: "checkpoint_backend",
    Subsystem.CHATKIT: "chatkit_backend",
    Subsystem.VAULT: "vault_backend",
    Subsystem.SERVICE_TOKENS: "auth_service_token_backend",
}

BACKEND_SETTINGS: tuple[str, ...] = tuple(dict.fromkeys(SUBSYSTEM_SETTING.values()))
"""The settings that name a backend (``repository_backend`` ... ``auth_service_token_backend``),
each once: ``dict.fromkeys(BACKEND_SETTINGS, name)`` points every subsystem at ``name``."""


# Schemas PostgreSQL reserves, and names that would need quoting (upper case, symbols): an
# unquoted mixed-case name folds to lower case in some places and not in others, so only names
# that read the same quoted and unquoted are accepted.
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_RESERVED_SCHEMAS = frozenset({"information_schema"})
MAX_DURATION_SECONDS = 7 * 24 * 3600.0
"""Upper bound of the pool timeouts (seconds): finite, and far below what timers overflow on."""
MAX_BUSY_TIMEOUT_MS = 2**31 - 1
"""SQLite's busy timeout is a C int of milliseconds."""


def check_schema_name(value: str) -> str:
    """Return ``value`` if it is an acceptable PostgreSQL schema name.

    Raises:
        ValueError: upper case or other characters that need quoting, more than 63
            characters, or a schema PostgreSQL reserves (``pg_*``, ``information_schema``).
    """
    if not _SCHEMA_NAME.match(value):
        raise ValueError(
            "schema name must be lower case letters, digits and _ (not starting with a "
            "digit), at most 63 characters"
        )
    if value.startswith("pg_") or value in _RESERVED_SCHEMAS:
        raise ValueError(f"schema {value!r} is reserved by PostgreSQL")
    return value


class StorageSettings(BaseSettings):
    """Every storage setting. Construct with keywords or from the environment."""

    model_config = SettingsConfigDict(
        env_prefix="ORCHEO_",
        extra="ignore",
        frozen=True,
        validate_default=True,
        hide_input_in_errors=True,
    )

    repository_backend: str = "sqlite"
    checkpoint_backend: str = "sqlite"
    chatkit_backend: str = "sqlite"
    vault_backend: str = "sqlite"
    auth_service_token_backend: str = "sqlite"

    postgres_dsn: SecretStr | None = None
    postgres_schema: str | None = None
    postgres_pool_min_size: int = Field(default=1, ge=0)
    postgres_pool_max_size: int = Field(default=10, ge=1)
    postgres_pool_timeout: float = Field(
        default=30.0, gt=0, le=MAX_DURATION_SECONDS, allow_inf_nan=False
    )
    postgres_pool_max_idle: float = Field(
        default=300.0, gt=0, le=MAX_DURATION_SECONDS, allow_inf_nan=False
    )
    postgres_pool_max_waiting: int = Field(default=1000, ge=0)
    postgres_prepare_threshold: int | None = Field(default=5, ge=0)

    repository_sqlite_path: Path = Path("~/.orcheo/workflows.sqlite")
    chatkit_sqlite_path: Path = Path("~/.orcheo/chatkit.sqlite")
    vault_local_path: Path = Path("~/.orcheo/vault.sqlite")
    auth_service_token_db_path: Path | None = None
    sqlite_synchronous: Literal["FULL", "NORMAL", "EXTRA"] = "FULL"
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0, le=MAX_BUSY_TIMEOUT_MS)

    vault_encryption_key: SecretStr | None = None
    vault_key_id: str = Field(default="primary", min_length=1, max_length=128)

    auto_migrate: bool = True
    plugins_strict: bool = False

    @field_validator(*BACKEND_SETTINGS, mode="before")
    @classmethod
    def _backend_name(cls, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("backend name must be a non-empty string")
        name = value.strip().lower()
        return BACKEND_ALIASES.get(name, name)

    @field_validator("sqlite_synchronous", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("postgres_prepare_threshold", mode="before")
    @classmethod
    def _prepare_threshold(cls, value: Any) -> Any:
        # From the environment, "none"/"off"/"" disables server-side prepared statements
        # (psycopg's prepare_threshold=None), as PgBouncer in transaction mode needs.
        if isinstance(value, str) and value.strip().lower() in ("", "none", "null", "off"):
            return None
        return value

    @field_validator("postgres_schema")
    @classmethod
    def _schema_name(cls, value: str | None) -> str | None:
        return None if value is None else check_schema_name(value)

    @field_validator("postgres_dsn", mode="before")
    @classmethod
    def _empty_dsn_is_unset(cls, value: Any) -> Any:
        # An empty DSN would make libpq fall back to its defaults (another local database).
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        return None if isinstance(raw, str) and not raw.strip() else value

    @field_validator("postgres_dsn")
    @classmethod
    def _dsn_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                check_dsn(value.get_secret_value())
            except DsnError as exc:
                raise ValueError(f"the DSN {exc}") from None
        return value

    @field_validator("vault_encryption_key")
    @classmethod
    def _key_not_empty(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("the vault key must not be empty (unset the variable instead)")
        return value

    @field_validator("vault_key_id")
    @classmethod
    def _key_id(cls, value: str) -> str:
        if value != value.strip() or not value.isprintable():
            raise ValueError("key id must be printable text without surrounding spaces")
        return value

    @field_validator(
        "repository_sqlite_path",
        "chatkit_sqlite_path",
        "vault_local_path",
        "auth_service_token_db_path",
        mode="before",
    )
    @classmethod
    def _path(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name == "auth_service_token_db_path" and value == "":
            return None  # optional: empty means unset
        if isinstance(value, str | Path) and ("\x00" in str(value) or not str(value).strip()):
            raise ValueError("path must be non-empty and must not contain a NUL character")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> StorageSettings:
        if self.postgres_pool_max_size < self.postgres_pool_min_size:
            raise ValueError(
                f"ORCHEO_POSTGRES_POOL_MAX_SIZE ({self.postgres_pool_max_size}) is below "
                f"ORCHEO_POSTGRES_POOL_MIN_SIZE ({self.postgres_pool_min_size})"
            )
        if "postgres" in self.selected_backends().values() and self.postgres_dsn is None:
            users = sorted(
                {
                    f"ORCHEO_{SUBSYSTEM_SETTING[s].upper()}"
                    for s, b in self.selected_backends().items()
                    if b == "postgres"
                }
            )
            raise ValueError(
                f"ORCHEO_POSTGRES_DSN is required when a backend is 'postgres' ({', '.join(users)})"
            )
        return self

    # --- derived values ------------------------------------------------------------------------

    def selected_backends(self) -> dict[Subsystem, str]:
        """Which backend serves each subsystem."""
        return {sub: getattr(self, setting) for sub, setting in SUBSYSTEM_SETTING.items()}

    def defaulted_backend_variables(self, name: str) -> list[str]:
        """The ``ORCHEO_*_BACKEND`` variables that select ``name`` only by default (not set)."""
        return [
            f"ORCHEO_{setting.upper()}"
            for setting in BACKEND_SETTINGS
            if getattr(self, setting) == name and setting not in self.model_fields_set
        ]

    def token_db_path(self) -> Path:
        """Service tokens live beside the repository file unless configured."""
        if self.auth_service_token_db_path is not None:
            return self.auth_service_token_db_path.expanduser()
        return self.repository_sqlite_path.expanduser().parent / "service_tokens.sqlite"

    def dsn(self) -> str:
        """The PostgreSQL DSN in clear, for drivers only.

        Raises:
            ConfigurationError: no DSN is configured.
        """
        if self.postgres_dsn is None:
            raise ConfigurationError("ORCHEO_POSTGRES_DSN is not set")
        return self.postgres_dsn.get_secret_value()

    def redacted(self) -> dict[str, Any]:
        """Every setting, safe to print: the DSN's password and the vault key hidden."""
        data = self.model_dump()
        data["postgres_dsn"] = (
            redact_dsn(self.postgres_dsn.get_secret_value()) if self.postgres_dsn else None
        )
        data["vault_encryption_key"] = "***" if self.vault_encryption_key else None
        return {k: str(v) if isinstance(v, Path) else v for k, v in data.items()}

    def __repr_args__(self) -> Any:
        return list(self.redacted().items())


def load_settings(**overrides: Any) -> StorageSettings:
    """Read settings from the environment (keywords win).

    Raises:
        ConfigurationError: a setting is missing, malformed or inconsistent; the message
            names the environment variable and never echoes secret values.
    """
    try:
        return StorageSettings(**overrides)
    except pydantic.ValidationError as exc:
        lines = []
        for err in exc.errors(include_url=False, include_input=False):
            field = ".".join(str(p) for p in err["loc"])
            message = err["msg"].removeprefix("Value error, ")
            # a rule across fields names its variables itself
            lines.append(f"ORCHEO_{field.upper()}: {message}" if field else message)
    # Raised outside the handler: pydantic's error (and what it holds) is not even the
    # __context__ of what callers see.
    raise ConfigurationError("invalid storage settings: " + "; ".join(lines))
