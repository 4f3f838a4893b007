"""Opening the two ends of a migration from settings: a source and a target backend."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orcheo_storage.crypto import VaultCipher
from orcheo_storage.keys import cipher_for
from orcheo_storage.migration.legacy import LegacyPaths, LegacySource
from orcheo_storage.migration.manifest import MigrationError
from orcheo_storage.migration.run import open_backend
from orcheo_storage.migration.sources import BackendSource, RowSource
from orcheo_storage.protocols.backend import BackendSession
from orcheo_storage.settings import (
    BACKEND_ALIASES,
    BACKEND_SETTINGS,
    StorageSettings,
    load_settings,
)

LEGACY = "legacy"
LEGACY_KEY_ENV = "ORCHEO_LEGACY_VAULT_ENCRYPTION_KEY"


@dataclass(frozen=True)
class Endpoint:
    """One end of a migration.

    Attributes:
        backend: a backend name, or ``"legacy"`` for today's Orcheo files (source only).
        data_dir: a folder holding the SQLite files (default: the ``ORCHEO_*_PATH`` settings).
        schema: a PostgreSQL schema (default: ``ORCHEO_POSTGRES_SCHEMA``).
        allow_loss: legacy fields (``table.path``) the operator allows to be left behind
            (``--allow-loss``; legacy sources only).
    """

    backend: str
    data_dir: Path | None = None
    schema: str | None = None
    allow_loss: frozenset[str] = frozenset()

    @property
    def name(self) -> str:
        name = self.backend.strip().lower()
        return BACKEND_ALIASES.get(name, name)

    def describe(self) -> str:
        where = f" in {self.data_dir}" if self.data_dir else ""
        schema = f" schema {self.schema}" if self.schema else ""
        return f"{self.name}{where}{schema}"

    def settings(self, base: StorageSettings | None = None) -> StorageSettings:
        """``base`` (default: the environment) pointed at this endpoint, ``auto_migrate`` off.

        Raises:
            ConfigurationError: the resulting settings are invalid.
        """
        values: dict[str, Any] = (base or load_settings()).model_dump()
        backend = "sqlite" if self.name == LEGACY else self.name
        values.update(dict.fromkeys(BACKEND_SETTINGS, backend), auto_migrate=False)
        if self.data_dir is not None:
            folder = self.data_dir.expanduser()
            values.update(
                repository_sqlite_path=folder / "workflows.sqlite",
                chatkit_sqlite_path=folder / "chatkit.sqlite",
                vault_local_path=folder / "vault.sqlite",
                auth_service_token_db_path=folder / "service_tokens.sqlite",
            )
        if self.schema is not None:
            values["postgres_schema"] = self.schema
        return load_settings(**values)


def _check_data_dir(endpoint: Endpoint, option: str) -> None:
    if endpoint.data_dir is not None and not endpoint.data_dir.expanduser().is_dir():
        raise MigrationError(f"{option} {endpoint.data_dir}: no such folder")


def _refuse_key_in_source(paths: LegacyPaths, target: StorageSettings) -> None:
    """Never create the target's vault key file inside today's Orcheo folder."""
    if target.vault_encryption_key is not None or target.vault_backend == "memory":
        return
    key_file = target.vault_local_path.expanduser().with_suffix(".key")
    folders = {p.expanduser().resolve().parent for p in paths.all() if p is not None}
    if key_file.resolve().parent in folders and not key_file.exists():
        raise MigrationError(
            f"the target's vault key would be created as {key_file}, inside the folder of "
            "today's Orcheo files (which a migration never writes to): set "
            "ORCHEO_VAULT_ENCRYPTION_KEY for the target, or point the target at another "
            "folder (--to-data-dir)"
        )


@asynccontextmanager
async def open_source(
    endpoint: Endpoint,
    target_settings: StorageSettings,
    base: StorageSettings | None = None,
    *,
    dry_run: bool = False,
) -> AsyncIterator[RowSource]:
    """Open the source read-only (legacy files) or as a backend with ``auto_migrate`` off.

    Legacy vault secrets are decrypted with ``ORCHEO_LEGACY_VAULT_ENCRYPTION_KEY`` (else
    ``ORCHEO_VAULT_ENCRYPTION_KEY``, else the ``.key`` file beside the vault) and sealed
    again with the target's vault key. With ``dry_run`` a throwaway key is used, so no
    key file is created for the target.
    """
    _check_data_dir(endpoint, "--from-data-dir")
    settings = endpoint.settings(base)
    if endpoint.name != LEGACY and endpoint.allow_loss:
        raise MigrationError("--allow-loss applies to today's files only (--from legacy)")
    if endpoint.name == LEGACY:
        paths = LegacyPaths.from_settings(settings)
        key = os.environ.get(LEGACY_KEY_ENV)
        if key is None and settings.vault_encryption_key is not None:
            key = settings.vault_encryption_key.get_secret_value()
        if dry_run:
            target_cipher = VaultCipher({"dry-run": os.urandom(32)}, "dry-run")
        else:
            _refuse_key_in_source(paths, target_settings)
            target_cipher = cipher_for(target_settings)
        source = LegacySource(
            paths,
            target_cipher=target_cipher,
            legacy_vault_key=key,
            allow_loss=endpoint.allow_loss,
        )
        async with source:
            yield source
        return
    session = await open_backend(endpoint.name, settings)
    try:
        yield BackendSource(session, endpoint.describe())
    finally:
        await session.close()


@asynccontextmanager
async def open_target(
    endpoint: Endpoint, settings: StorageSettings
) -> AsyncIterator[BackendSession]:
    """Open the target backend with ``auto_migrate`` off (schema steps are explicit)."""
    session = await open_backend(endpoint.name, settings)
    try:
        yield session
    finally:
        await session.close()
