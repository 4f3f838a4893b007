"""The legacy source: today's Orcheo SQLite files, opened read-only, as logical rows."""

from __future__ import annotations

import hashlib
import pickle
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

from orcheo_storage.crypto import VaultCipher
from orcheo_storage.jsoncodec import JsonObject
from orcheo_storage.migration.legacy.context import MapContext, TableMap
from orcheo_storage.migration.legacy.fitting import LegacyRowError, Notes
from orcheo_storage.migration.legacy.others import OTHER_TABLES
from orcheo_storage.migration.legacy.repository import REPOSITORY_TABLES
from orcheo_storage.migration.manifest import MigrationError
from orcheo_storage.migration.tables import dependency_order
from orcheo_storage.migration.versions import LazyRow
from orcheo_storage.settings import StorageSettings

TABLE_MAPS: tuple[TableMap, ...] = REPOSITORY_TABLES + OTHER_TABLES
RAW_VERSIONS = "orcheo-legacy-sqlite-raw/1"
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

    def get(self, kind: str) -> Path | None:
        path: Path | None = getattr(self, kind)
        return path if path is not None and path.is_file() else None


def legacy_vault_cipher(paths: LegacyPaths, key: str | None) -> VaultCipher | None:
    """Today's vault cipher: the given key string, else the ``.key`` file beside the vault."""
    if key is None and paths.vault is not None:
        for candidate in (paths.vault.with_suffix(".key"), Path(f"{paths.vault}.key")):
            if candidate.is_file():
                key = candidate.read_text(encoding="utf-8").strip()
                break
    return None if key is None else VaultCipher.from_passphrase(key, "primary")


def _connect_read_only(path: Path) -> sqlite3.Connection:
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    # One read transaction for the whole export: every count and row comes from one snapshot.
    conn.execute("BEGIN")
    return conn


class LegacySource:
    """A :class:`~orcheo_storage.migration.sources.RowSource` over today's Orcheo files.

    Files are opened with ``mode=ro`` URIs and never written. Columns added over time
    (``workflows.handle``, ``workflows.is_archived``, ``cron_triggers.last_dispatched_at``,
    ``chat_messages.thread_id``) are optional. Vault secrets are decrypted with today's key
    and sealed again under ``target_cipher``; webhook secrets (plain text today) are sealed.
    Use as ``async with LegacySource(...) as source``.
    """

    def __init__(
        self,
        paths: LegacyPaths,
        *,
        target_cipher: VaultCipher,
        legacy_vault_key: str | None = None,
    ) -> None:
        self.paths = paths
        self._ctx = MapContext(Notes(), target_cipher, legacy_vault_cipher(paths, legacy_vault_key))
        self._conns: dict[str, sqlite3.Connection] = {}
        self._columns: dict[tuple[str, str], list[str]] = {}
        self._extra: list[str] = []

    # --- lifecycle ---------------------------------------------------------------------------

    def open(self) -> None:
        """Open every present file read-only and look at its tables.

        Raises:
            MigrationError: a file is not a readable SQLite database.
        """
        for kind in FILE_NAMES:
            path = self.paths.get(kind)
            if path is None:
                continue
            try:
                conn = _connect_read_only(path)
                names = [
                    r[0]
                    for r in conn.execute(
                        "SELECT name FROM sqlite_master WHERE type = 'table' "
                        "AND name NOT LIKE 'sqlite_%' ORDER BY name"
                    )
                ]
            except sqlite3.DatabaseError as exc:
                raise MigrationError(f"{path} is not a readable SQLite database: {exc}") from None
            self._conns[kind] = conn
            for name in names:
                cols = [r[1] for r in conn.execute(f'PRAGMA table_info("{name}")')]
                self._columns[(kind, name)] = cols
            mapped = {m.legacy for m in TABLE_MAPS if m.file == kind}
            self._extra += [
                f"{path.name}: table {n} is not migrated" for n in names if n not in mapped
            ]

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()

    async def __aenter__(self) -> LegacySource:
        self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- RowSource ---------------------------------------------------------------------------

    @property
    def name(self) -> str:
        files = sorted(str(p) for k in FILE_NAMES if (p := self.paths.get(k)) is not None)
        return "orcheo legacy sqlite: " + ", ".join(files)

    def _map(self, table: str) -> TableMap | None:
        for spec in TABLE_MAPS:
            if spec.logical == table and (spec.file, spec.legacy) in self._columns:
                return spec
        return None

    def tables(self) -> list[str]:
        return dependency_order([m.logical for m in TABLE_MAPS if self._map(m.logical)])

    async def schema_version(self) -> int:
        return 0  # today's files carry no version table

    def _query(self, spec: TableMap, what: str) -> str:
        cols = self._columns[(spec.file, spec.legacy)]
        if spec.where and "last_dispatched_at" in spec.where and "last_dispatched_at" not in cols:
            return f'SELECT {what} FROM "{spec.legacy}" WHERE 0'
        where = f" WHERE {spec.where}" if spec.where else ""
        return f'SELECT {what} FROM "{spec.legacy}"{where}'

    def _select_list(self, spec: TableMap) -> str:
        cols = self._columns[(spec.file, spec.legacy)]
        parts = [f'"{c}"' for c in cols]
        parts += [f"{expr} AS {name}" for name, expr in spec.derived if name not in cols]
        return ", ".join(parts)

    async def count_rows(self, table: str) -> int:
        spec = self._map(table)
        if spec is None:
            return 0
        row = self._conns[spec.file].execute(self._query(spec, "count(*)")).fetchone()
        return int(row[0])

    async def export_rows(
        self, table: str, *, batch_size: int = 1000
    ) -> AsyncIterator[list[JsonObject]]:
        spec = self._map(table)
        if spec is None:
            return
        sql = self._query(spec, self._select_list(spec)) + " ORDER BY " + ", ".join(spec.order)
        cursor = self._conns[spec.file].execute(sql)
        while True:
            fetched = cursor.fetchmany(batch_size)
            if not fetched:
                break
            yield [self._mapped(spec, dict(r)) for r in fetched]

    @property
    def versions_kind(self) -> str:
        """Versions hash each row's raw column values (no JSON decoded): cheap to rescan."""
        return RAW_VERSIONS

    async def export_versioned(
        self, table: str, *, batch_size: int = 1000
    ) -> AsyncIterator[list[LazyRow]]:
        """Rows in export order as (legacy key, raw version, mapping thunk).

        The version is a BLAKE2b digest of the pickled tuple of the row's raw values, so a
        rescan reads the file but decodes no JSON and maps only the rows whose bytes changed.
        """
        spec = self._map(table)
        if spec is None:
            return
        sql = self._query(spec, self._select_list(spec)) + " ORDER BY " + ", ".join(spec.order)
        cursor = self._conns[spec.file].cursor()
        cursor.row_factory = None  # plain tuples: hashed as read, named only when mapped
        cursor.execute(sql)
        names = tuple(d[0] for d in cursor.description)
        where = [names.index(c) for c in spec.order]
        single = where[0] if len(where) == 1 else None
        blake = hashlib.blake2b
        dump = pickle.dumps
        while True:
            fetched: list[tuple[Any, ...]] = cursor.fetchmany(batch_size)
            if not fetched:
                break
            yield [
                (
                    (r[single],) if single is not None else tuple(r[i] for i in where),
                    blake(dump(r, 5), digest_size=16).digest(),
                    partial(self._mapped_tuple, spec, names, r),
                )
                for r in fetched
            ]

    def _mapped_tuple(
        self, spec: TableMap, names: tuple[str, ...], raw: tuple[Any, ...]
    ) -> JsonObject:
        return self._mapped(spec, dict(zip(names, raw, strict=True)))

    def _mapped(self, spec: TableMap, row: dict[str, Any]) -> JsonObject:
        try:
            return spec.mapper(row, self._ctx)
        except (LegacyRowError, ValueError, KeyError, TypeError) as exc:
            key = ", ".join(str(row.get(c)) for c in spec.order)
            path = self.paths.get(spec.file)
            raise LegacyRowError(
                f"cannot map {path.name if path else spec.file} {spec.legacy} row "
                f"(key {key}) to {spec.logical}: {exc}"
            ) from None

    def unmapped(self) -> list[str]:
        return self._extra + self._ctx.notes.lines()
