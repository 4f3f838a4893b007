"""Where today's Orcheo files and its vault key are, and opening the files read-only."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from orcheo_storage.crypto import VaultCipher
from orcheo_storage.legacy_files import reads_immutable
from orcheo_storage.migration.manifest import MigrationError
from orcheo_storage.settings import StorageSettings

FILE_NAMES = {
    "repository": "workflows.sqlite",
    "chatkit": "chatkit.sqlite",
    "tokens": "service_tokens.sqlite",
    "vault": "vault.sqlite",
}


@dataclass(frozen=True)
class LegacyPaths:
    """Where today's files are; a ``None`` or missing file contributes no tables."""

    repository: Path | None = None
    chatkit: Path | None = None
    tokens: Path | None = None
    vault: Path | None = None

    @classmethod
    def from_settings(cls, settings: StorageSettings) -> LegacyPaths:
        """The paths today's Orcheo uses for these settings."""
        return cls(
            repository=settings.repository_sqlite_path.expanduser(),
            chatkit=settings.chatkit_sqlite_path.expanduser(),
            tokens=settings.token_db_path(),
            vault=settings.vault_local_path.expanduser(),
        )

    @classmethod
    def in_folder(cls, folder: Path) -> LegacyPaths:
        """The four files under their default names in ``folder``."""
        return cls(**{kind: folder / name for kind, name in FILE_NAMES.items()})

    def all(self) -> list[Path | None]:
        return [getattr(self, kind) for kind in FILE_NAMES]

    def get(self, kind: str) -> Path | None:
        path: Path | None = getattr(self, kind)
        return path if path is not None and path.is_file() else None


def legacy_key_file(vault: Path) -> Path:
    """Where today's Orcheo keeps a generated vault key: ``<stem>.key`` beside the vault."""
    return vault.with_name(f"{vault.stem}.key")


def legacy_vault_cipher(paths: LegacyPaths, key: str | None) -> VaultCipher | None:
    """Today's vault cipher: the given key string, else today's key file beside the vault.

    Raises:
        MigrationError: the key given, or the key file, is empty.
    """
    if key is None and paths.vault is not None:
        key_file = legacy_key_file(paths.vault)
        if key_file.is_file():
            key = key_file.read_text(encoding="utf-8").strip()
            if not key:
                raise MigrationError(f"today's vault key file {key_file} is empty")
    if key is not None and not key:
        raise MigrationError("the legacy vault key (ORCHEO_LEGACY_VAULT_ENCRYPTION_KEY) is empty")
    return None if key is None else VaultCipher.from_passphrase(key, "primary")


def connect_read_only(path: Path) -> sqlite3.Connection:
    # Never writes, and leaves no -wal/-shm beside a WAL file that nobody has open. (A
    # writer starting meanwhile is caught by the source fingerprint check of the export.)
    flags = "mode=ro&immutable=1" if reads_immutable(path) else "mode=ro"
    uri = f"file:{quote(str(path.resolve()))}?{flags}"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    # One read transaction for the whole export: every count and row comes from one snapshot.
    conn.execute("BEGIN")
    return conn
