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
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from orcheo_storage.errors import ConfigurationError
from orcheo_storage.protocols.backend import Subsystem

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


# A query password ends at the next "&" only: an unescaped "#" is not a boundary worth trusting.
_URL_PASSWORD_PARAM = re.compile(r"(?i)([?&][^=&#]*password=)[^&]*")
_KV_PASSWORD = re.compile(r"(?i)(\b\w*password\s*=\s*)('(?:[^'\\]|\\.)*'?|\S+)")


def redact_dsn(dsn: str) -> str:
    """Replace every password of a DSN (URL or key=value form) with ``***``.

    Errs on the side of hiding too much: a malformed URL (an unescaped ``#``, ``/`` or ``?``
    in the password) or a quoted key=value password never shows any part of the secret.
    """
    if "://" in dsn:
        scheme, _, rest = dsn.partition("://")
        # The credentials end at the last "@"; not using urlsplit, which stops the netloc at
        # the first "/", "?" or "#" and would leave the rest of such a password in the output.
        if "@" in rest:
            userinfo, _, rest = rest.rpartition("@")
            user, colon, _ = userinfo.partition(":")
            prefix = f"{scheme}://{user}:***@" if colon else f"{scheme}://{user}@"
        else:
            prefix = f"{scheme}://"
        return prefix + _URL_PASSWORD_PARAM.sub(r"\1***", rest)
    return _KV_PASSWORD.sub(r"\1***", dsn)


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
    postgres_pool_timeout: float = Field(default=30.0, gt=0)
    postgres_pool_max_idle: float = Field(default=300.0, gt=0)
    postgres_pool_max_waiting: int = Field(default=1000, ge=0)
    postgres_prepare_threshold: int | None = 5

    repository_sqlite_path: Path = Path("~/.orcheo/workflows.sqlite")
    chatkit_sqlite_path: Path = Path("~/.orcheo/chatkit.sqlite")
    vault_local_path: Path = Path("~/.orcheo/vault.sqlite")
    auth_service_token_db_path: Path | None = None
    sqlite_synchronous: Literal["FULL", "NORMAL", "EXTRA"] = "FULL"
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)

    vault_encryption_key: SecretStr | None = None
    vault_key_id: str = "primary"

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
        if value is None:
            return None
        if (
            not value
            or len(value) > 63
            or not (value[0].isalpha() or value[0] == "_")
            or not all(c.isalnum() or c == "_" for c in value)
        ):
            raise ValueError(
                "schema name must be a plain identifier (letters, digits, _), at most 63 chars"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> StorageSettings:
        if self.postgres_pool_max_size < self.postgres_pool_min_size:
            raise ValueError(
                f"postgres_pool_max_size ({self.postgres_pool_max_size}) is below "
                f"postgres_pool_min_size ({self.postgres_pool_min_size})"
            )
        if "postgres" in self.selected_backends().values() and self.postgres_dsn is None:
            users = sorted(
                {
                    SUBSYSTEM_SETTING[s]
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
            name = f"ORCHEO_{field.upper()}" if field else "settings"
            message = err["msg"].removeprefix("Value error, ")
            lines.append(f"{name}: {message}")
        raise ConfigurationError("invalid storage settings: " + "; ".join(lines)) from None
