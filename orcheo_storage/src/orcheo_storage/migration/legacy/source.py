"""The legacy source: today's Orcheo SQLite files, opened read-only, as logical rows."""

from __future__ import annotations

import hashlib
import pickle
import sqlite3
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any

from orcheo_storage.crypto import VaultCipher
from orcheo_storage.errors import DecryptionError
from orcheo_storage.jsoncodec import JsonObject
from orcheo_storage.migration.legacy.accounting import (
    DROPPED_PATHS,
    MAPPING_DOC,
    LegacyLossError,
    present,
    source_path,
)
from orcheo_storage.migration.legacy.check import find_losses, parse_row, remove
from orcheo_storage.migration.legacy.context import MapContext, TableMap
from orcheo_storage.migration.legacy.fitting import LegacyRowError, Notes, parse_json
from orcheo_storage.migration.legacy.others import OTHER_TABLES
from orcheo_storage.migration.legacy.paths import (
    FILE_NAMES,
    LegacyPaths,
    connect_read_only,
    legacy_key_file,
    legacy_vault_cipher,
)
from orcheo_storage.migration.legacy.repository import REPOSITORY_TABLES
from orcheo_storage.migration.legacy.shapes import SHAPES, LegacyTable
from orcheo_storage.migration.manifest import MigrationError
from orcheo_storage.migration.progress import Reporter
from orcheo_storage.migration.sources import CheckReport
from orcheo_storage.migration.tables import dependency_order
from orcheo_storage.migration.verify import VerifyReport
from orcheo_storage.migration.versions import LazyRow
from orcheo_storage.models.vault import EncryptedSecret
from orcheo_storage.protocols.backend import BackendSession

TABLE_MAPS: tuple[TableMap, ...] = REPOSITORY_TABLES + OTHER_TABLES
RAW_VERSIONS = "orcheo-legacy-sqlite-raw/1"
_MAX_ALLOWED_PER_ROW = 64  # mapping retries of one row, each after an allowed loss
_LISTED_REFUSALS = 1000  # refusals a dry run lists (all are counted)


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
        allow_loss: frozenset[str] | set[str] = frozenset(),
    ) -> None:
        self.paths = paths
        self.allow_loss = frozenset(allow_loss)
        self._ctx = MapContext(Notes(), target_cipher, legacy_vault_cipher(paths, legacy_vault_key))
        self._conns: dict[str, sqlite3.Connection] = {}
        self._columns: dict[tuple[str, str], list[str]] = {}
        self._extra: list[str] = []

    # --- lifecycle ---------------------------------------------------------------------------

    def open(self) -> None:
        """Open every present file read-only and look at its tables.

        Raises:
            MigrationError: no legacy file is there, a file is not a readable SQLite
                database, a table this migration does not know holds rows (unless its
                loss is allowed), or the vault holds secrets the legacy key cannot open.
        """
        present = [kind for kind in FILE_NAMES if self.paths.get(kind) is not None]
        if not present:
            raise MigrationError(
                "no legacy Orcheo file found: looked for "
                + ", ".join(str(p) for p in self.paths.all() if p is not None)
            )
        for kind in FILE_NAMES:
            if kind not in present:
                declared = getattr(self.paths, kind)
                self._ctx.notes.absent.append(
                    f"{declared if declared else FILE_NAMES[kind]}: not present (nothing to migrate)"
                )
        for kind in present:
            path = self.paths.get(kind)
            assert path is not None
            try:
                conn = connect_read_only(path)
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
            for name in (n for n in names if n not in mapped):
                self._unknown_table(conn, path, name)
        self._check_vault_key()

    def _unknown_table(self, conn: sqlite3.Connection, path: Path, name: str) -> None:
        rows = conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
        label = f"{path.name}:{name}"
        if rows and label not in self.allow_loss:
            raise LegacyLossError(
                f"{path}: table {name} ({rows} row(s)) is not one today's Orcheo writes, so "
                f"this migration has no place for it; nothing was written. To migrate "
                f"without it, pass --allow-loss {label}"
            )
        if rows:
            self._ctx.notes.lost[label] += rows
        else:
            self._extra.append(f"{label}: empty table not migrated")

    def _check_vault_key(self) -> None:
        """Refuse at once when the vault holds secrets and the legacy key cannot open them."""
        conn = self._conns.get("vault")
        if conn is None or ("vault", "credentials") not in self._columns:
            return
        row = conn.execute("SELECT payload FROM credentials ORDER BY id LIMIT 1").fetchone()
        if row is None:
            return
        cipher = self._ctx.legacy_cipher
        assert self.paths.vault is not None
        if cipher is None:
            raise MigrationError(
                f"{self.paths.vault} holds encrypted credentials but no legacy vault key is "
                "known: set ORCHEO_LEGACY_VAULT_ENCRYPTION_KEY to the ORCHEO_VAULT_ENCRYPTION_KEY "
                f"today's Orcheo uses (or keep its key file {legacy_key_file(self.paths.vault)})"
            )
        try:
            envelope = (parse_json(row["payload"], "credentials.payload") or {}).get("encryption")
            cipher.decrypt(EncryptedSecret.model_validate(envelope))
        except (ValueError, DecryptionError, LegacyRowError):
            raise MigrationError(
                f"the legacy vault key does not open the credentials in {self.paths.vault}: "
                "set ORCHEO_LEGACY_VAULT_ENCRYPTION_KEY to the key today's Orcheo uses"
            ) from None

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

    def _mapped(self, spec: TableMap, raw: dict[str, Any]) -> JsonObject:
        """One legacy row checked against its shape, then mapped.

        Raises:
            LegacyLossError: a field the shape does not account for, or a value the
                mapping cannot hold, whose loss was not allowed.
            LegacyRowError: the row cannot be mapped for another reason.
        """
        shape = SHAPES[(spec.file, spec.legacy)]
        where = self._where(spec, raw)
        row = self._checked(spec, raw)
        self._count_dropped(shape, row)
        for _ in range(_MAX_ALLOWED_PER_ROW):
            try:
                return spec.mapper(row, self._ctx)
            except (LegacyRowError, ValueError, KeyError, TypeError) as exc:
                field = getattr(exc, "field", None)
                source = source_path(shape, field) if field else None
                if source is None or not present(row, source):
                    raise LegacyRowError(f"cannot map {where} to {spec.logical}: {exc}") from None
                self._lose(shape, row, source, f"{where}: {source}: cannot be held ({exc})")
        raise LegacyRowError(f"cannot map {where} to {spec.logical}")  # pragma: no cover

    def _where(self, spec: TableMap, raw: dict[str, Any]) -> str:
        key = ", ".join(str(raw.get(c)) for c in spec.order)
        path = self.paths.get(spec.file)
        return f"{path.name if path else spec.file} {spec.legacy} row (key {key})"

    def _checked(
        self, spec: TableMap, raw: dict[str, Any], *, count: bool = True
    ) -> dict[str, Any]:
        """The row with JSON decoded and every allowed loss removed; refuses other losses."""
        shape = SHAPES[(spec.file, spec.legacy)]
        where = self._where(spec, raw)
        try:
            row = parse_row(shape, raw)
        except LegacyRowError as exc:
            raise LegacyRowError(f"cannot read {where}: {exc}") from None
        for loss in find_losses(shape, row):
            self._lose(shape, row, loss.path, f"{where}: {loss.path}: {loss.reason}", count)
        return row

    async def checked_rows(
        self, table: str, *, batch_size: int = 1000
    ) -> AsyncIterator[list[tuple[tuple[Any, ...], dict[str, Any]]]]:
        """The legacy rows feeding logical ``table``, in key order, as (key, checked row).

        The rows are not mapped: this is what verification compares the target with.
        """
        spec = self._map(table)
        if spec is None:
            return
        sql = self._query(spec, self._select_list(spec)) + " ORDER BY " + ", ".join(spec.order)
        cursor = self._conns[spec.file].execute(sql)
        while True:
            fetched = cursor.fetchmany(batch_size)
            if not fetched:
                break
            out = []
            for r in fetched:
                raw = dict(r)
                key = tuple(raw.get(c) for c in spec.order)
                out.append((key, self._checked(spec, raw, count=False)))
            yield out

    def shape_of(self, table: str) -> LegacyTable | None:
        """The legacy table feeding logical ``table`` (``None`` when the source lacks it)."""
        spec = self._map(table)
        return None if spec is None else SHAPES[(spec.file, spec.legacy)]

    @property
    def ciphers(self) -> tuple[VaultCipher | None, VaultCipher]:
        """(today's vault cipher, the target's), for comparing secrets."""
        return self._ctx.legacy_cipher, self._ctx.target_cipher

    def _lose(
        self,
        shape: LegacyTable,
        row: dict[str, Any],
        path: str,
        message: str,
        count: bool = True,
    ) -> None:
        name = f"{shape.name}.{path}"
        if name not in self.allow_loss:
            raise LegacyLossError(
                f"{message}. Nothing was written. To migrate without this field, pass "
                f"--allow-loss {name}"
            )
        remove(row, path)
        if count:
            self._ctx.notes.lost[name] += 1

    def _count_dropped(self, shape: LegacyTable, row: dict[str, Any]) -> None:
        for path in DROPPED_PATHS[(shape.file, shape.name)]:
            if present(row, path):
                self._ctx.notes.dropped[f"{shape.name}.{path}"] += 1

    async def check_all(self) -> CheckReport:
        """Map every row of every table as ``run`` would, collecting refusals (nothing written)."""
        report = CheckReport()
        for table in self.tables():
            spec = self._map(table)
            assert spec is not None
            sql = self._query(spec, self._select_list(spec)) + " ORDER BY " + ", ".join(spec.order)
            cursor = self._conns[spec.file].execute(sql)
            mapped = 0
            while fetched := cursor.fetchmany(1000):
                for raw in fetched:
                    try:
                        self._mapped(spec, dict(raw))
                        mapped += 1
                    except LegacyRowError as exc:
                        report.refused_rows += 1
                        if len(report.refusals) < _LISTED_REFUSALS:
                            report.refusals.append(str(exc))
            report.rows[table] = mapped
        return report

    async def verify_target(self, target: BackendSession, reporter: Reporter) -> VerifyReport:
        """Every legacy row compared field by field with the target (see :mod:`.fidelity`)."""
        from orcheo_storage.migration.legacy.fidelity import verify_legacy

        return await verify_legacy(self, target, reporter=reporter)

    def accounting(self) -> dict[str, Any]:
        """What this read carried, dropped (documented) and lost (allowed), by field."""
        return {"mapping": MAPPING_DOC, **self._ctx.notes.as_dict()}

    def unmapped(self) -> list[str]:
        return self._extra + self._ctx.notes.lines()
