"""Recognising today's Orcheo SQLite files by their tables, without changing them.

Today's Orcheo keeps its data in SQLite files at the same default paths as this project's
SQLite backend (``~/.orcheo/workflows.sqlite`` ...), in another layout. A backend pointed at
them must refuse before it writes anything: no table added, no journal-mode change, no
``-wal``/``-shm``/``-journal`` file created. :func:`inspect_file` reads the table list of a
file read-only, ``immutable`` when a plain reader would create side files (a WAL file that
nobody has open), else with SQLite's locks (see there).

:func:`check_files` classifies the files a backend is about to open and raises
:class:`~orcheo_storage.errors.LegacyFilesError` (today's files, with the exact ``migrate``
commands) or :class:`~orcheo_storage.errors.ForeignFilesError` (a layout nobody here wrote).
The layout facts are in ``LEGACY_SQLITE.md`` of the legacy migration.
"""

from __future__ import annotations

import shlex
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from orcheo_storage.errors import ForeignFilesError, LegacyFilesError

# The table every file written by this project's SQLite backend holds (its schema steps).
OWN_MARKER = "orcheo_schema_migrations"

# Tables only today's Orcheo creates (this project never uses these names).
LEGACY_ONLY_TABLES = frozenset(
    {
        "workflow_run_remediations",
        "execution_history",
        "execution_history_steps",
        "service_token_audit_log",
        "chat_messages",
        "credentials",
        "credential_templates",
        "governance_alerts",
    }
)
# Tables whose name this project shares: any of these columns marks today's layout. Names
# without a telling column (webhook_triggers, agentensor_checkpoints, and service_tokens,
# whose columns this project now keeps all of) are never evidence; a file holding them
# holds telling tables as well (service_token_audit_log beside service_tokens). The sqlite backend's tests check that
# none of its own tables matches.
LEGACY_COLUMNS: Mapping[str, frozenset[str]] = {
    "workflows": frozenset({"payload"}),
    "workflow_versions": frozenset({"payload"}),
    "workflow_runs": frozenset({"payload"}),
    "cron_triggers": frozenset({"config"}),
    "retry_policies": frozenset({"config"}),
    "listener_subscriptions": frozenset({"payload"}),
    "listener_cursors": frozenset({"payload"}),
    "listener_dedupe": frozenset({"payload"}),
    "chat_threads": frozenset({"status_json", "metadata_json"}),
    "chat_attachments": frozenset({"details_json", "attachment_type"}),
}
# Today's file names, as `migrate run --from-data-dir DIR` looks for them in DIR.
DEFAULT_NAMES = frozenset(
    {"workflows.sqlite", "chatkit.sqlite", "service_tokens.sqlite", "vault.sqlite"}
)
VAULT_NAME = "vault.sqlite"
LEGACY_KEY_ENV = "ORCHEO_LEGACY_VAULT_ENCRYPTION_KEY"
_SHOWN_TABLES = 4
_NOT_A_DATABASE = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB
_HEADER_SIZE = 100
_MAGIC = b"SQLite format 3\x00"
_WAL_FORMAT = 2  # header bytes 18/19 (read/write format version) of a WAL-mode file


class Layout(StrEnum):
    """What a database file holds."""

    MISSING = "missing"
    EMPTY = "empty"
    OWN = "orcheo-storage"
    LEGACY = "orcheo-legacy"
    MIXED = "mixed"
    UNKNOWN = "unknown"
    NOT_SQLITE = "not-sqlite"
    # could not be read (permissions, a folder, I/O): opening it reports the reason as before
    UNREADABLE = "unreadable"

    @property
    def openable(self) -> bool:
        """Whether a backend may go on and open (and, if needed, create) the file."""
        return self in (Layout.MISSING, Layout.EMPTY, Layout.OWN, Layout.UNREADABLE)


@dataclass(frozen=True)
class FileLayout:
    """The layout of one file and the tables that decided it."""

    path: Path
    layout: Layout
    legacy_tables: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()
    reason: str = ""


def legacy_evidence(tables: Mapping[str, frozenset[str]]) -> list[str]:
    """The tables (of ``name -> columns``) that only today's Orcheo layout has."""
    found = []
    for name, columns in tables.items():
        key = name.lower()  # SQLite names are case-insensitive
        telling = LEGACY_COLUMNS.get(key)
        if key in LEGACY_ONLY_TABLES or (
            telling is not None and {c.lower() for c in columns} & telling
        ):
            found.append(name)
    return found


def classify(path: Path, tables: Mapping[str, frozenset[str]]) -> FileLayout:
    """The layout of a file holding ``tables`` (name -> column names, no ``sqlite_`` tables)."""
    legacy = tuple(legacy_evidence(tables))
    names = tuple(tables)
    own = OWN_MARKER in {name.lower() for name in tables}
    if not tables:
        layout = Layout.EMPTY
    elif legacy:
        layout = Layout.MIXED if own else Layout.LEGACY
    else:
        layout = Layout.OWN if own else Layout.UNKNOWN
    return FileLayout(path, layout, legacy, names)


def _uri(path: Path, *, immutable: bool) -> str:
    return path.resolve().as_uri() + ("?mode=ro&immutable=1" if immutable else "?mode=ro")


def read_tables(path: Path, *, immutable: bool = True) -> dict[str, frozenset[str]]:
    """``table -> column names`` of a SQLite file, read without writing anything.

    With ``immutable`` (the default) SQLite takes no lock, replays no journal and creates no
    ``-wal``/``-shm``/``-journal`` file. Raises ``sqlite3.DatabaseError`` for a file that is
    not a SQLite database.
    """
    conn = sqlite3.connect(_uri(path, immutable=immutable), uri=True, isolation_level=None)
    try:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND lower(substr(name, 1, 7)) != 'sqlite_' ORDER BY rowid"
            )
        ]
        return {
            name: frozenset(
                row[1] for row in conn.execute("SELECT * FROM pragma_table_info(?)", (name,))
            )
            for name in names
        }
    finally:
        conn.close()


def reads_immutable(path: Path) -> bool:
    """Whether a reader must open ``path`` ``immutable`` to leave no side files beside it.

    True for a WAL-mode file nobody has open (no ``-shm``): a plain read-only connection
    would create ``-wal`` and ``-shm``. A file in use already has them, and a
    rollback-journal file needs none, so those are read with SQLite's locks.
    """
    try:
        with path.open("rb") as file:
            header = file.read(_HEADER_SIZE)
    except OSError:
        return False
    wal_mode = len(header) == _HEADER_SIZE and header[18] == _WAL_FORMAT
    return wal_mode and not Path(f"{path}-shm").exists() and not Path(f"{path}-wal").exists()


def inspect_file(path: Path) -> FileLayout:
    """The layout of the file at ``path`` (``~`` expanded); changes nothing on disk.

    The 100-byte header says whether the file is SQLite and in WAL mode. A WAL file that
    nobody has open (no ``-wal``/``-shm`` beside it) is read ``immutable``: a plain reader
    would create both. Any other file is read through a plain read-only connection, which
    takes SQLite's locks (so a file another process is writing right now reads consistently)
    and creates nothing: a rollback-journal file needs no side file to be read, and a live
    WAL file already has its ``-wal`` and ``-shm``.
    """
    path = path.expanduser()
    try:
        with path.open("rb") as file:
            header = file.read(_HEADER_SIZE)
    except FileNotFoundError:
        return FileLayout(path, Layout.MISSING)
    except OSError as exc:  # a folder, no permission: opening it reports the reason
        return FileLayout(path, Layout.UNREADABLE, reason=exc.strerror or type(exc).__name__)
    wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
    wal_size = wal.stat().st_size if wal.is_file() else 0
    if not header and not wal_size:
        return FileLayout(path, Layout.EMPTY)
    if header and (len(header) < _HEADER_SIZE or not header.startswith(_MAGIC)):
        return FileLayout(path, Layout.NOT_SQLITE, reason="no SQLite header")
    immutable = bool(header) and header[18] == _WAL_FORMAT and not shm.exists()
    try:
        found = classify(path, read_tables(path, immutable=immutable))
        if immutable and found.layout is Layout.EMPTY and wal_size:
            # A log without its index (a crash): tables may be in it only. Read it too.
            found = classify(path, read_tables(path, immutable=False))
    except sqlite3.Error as exc:
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        layout = Layout.NOT_SQLITE if code in _NOT_A_DATABASE else Layout.UNREADABLE
        return FileLayout(path, layout, reason=str(exc) or type(exc).__name__)
    return found


# --- refusing --------------------------------------------------------------------------------------


def check_files(files: Mapping[str, Path]) -> list[FileLayout]:
    """Classify the files a backend is about to open; refuse any it must not open.

    Args:
        files: the setting that names a file (e.g. ``ORCHEO_VAULT_LOCAL_PATH``) -> its path.
            Settings naming the same file are checked once.

    Returns:
        The layout of every distinct file (all openable).

    Raises:
        LegacyFilesError: one file or more is today's Orcheo file (or holds its tables next
            to this project's); the message names every refused file and gives the exact
            ``orcheo-storage migrate run`` commands to PostgreSQL and to a new SQLite folder.
        ForeignFilesError: a file holds tables of neither layout, or is not a database.
    """
    settings_of: dict[Path, list[str]] = {}
    for setting, path in files.items():
        settings_of.setdefault(path.expanduser().resolve(), []).append(setting)
    layouts = {path: inspect_file(path) for path in settings_of}
    refused = [found for found in layouts.values() if not found.layout.openable]
    if refused:
        raise refusal(refused, {p: ", ".join(s) for p, s in settings_of.items()})
    return list(layouts.values())


def refusal(refused: list[FileLayout], settings: Mapping[Path, str]) -> ForeignFilesError:
    """The error for files a backend will not open (``settings``: path -> setting names)."""
    kinds = {str(f.path): f.layout.value for f in refused}
    lines = [f"  {f.path} ({settings.get(f.path, 'path')}): {_describe(f)}" for f in refused]
    legacy = [f.path for f in refused if f.legacy_tables]
    if not legacy:
        header = "the sqlite backend will not open files it did not write (nothing was changed):"
        footer = "Point the setting at another file, or move the file away."
        return ForeignFilesError("\n".join([header, *lines, footer]), kinds)
    commands = migrate_commands(legacy)
    header = "the sqlite backend will not open today's Orcheo files (nothing was changed):"
    text = [
        header,
        *lines,
        "Migrate them (they are only read), then select the new backend or point the "
        "ORCHEO_*_PATH settings at the new folder:",
        f"  to PostgreSQL (set ORCHEO_POSTGRES_DSN): {commands['postgres']}",
        f"  to this project's SQLite layout in a new folder: {commands['sqlite']}",
    ]
    if any(p.name == VAULT_NAME for p in legacy):
        text.append(f"Set {LEGACY_KEY_ENV} to today's vault key to carry the credentials.")
    text.append('See "Migration runbook" in the orcheo-storage README.')
    return LegacyFilesError("\n".join(text), kinds, commands)


def _describe(found: FileLayout) -> str:
    if found.layout is Layout.NOT_SQLITE:
        return f"not a SQLite database ({found.reason})"
    if found.layout is Layout.LEGACY:
        return f"today's Orcheo layout (tables {_names(found.legacy_tables)})"
    if found.layout is Layout.MIXED:
        return (
            f"today's Orcheo tables ({_names(found.legacy_tables)}) and this project's tables "
            "(added by an earlier orcheo-storage-sqlite) in one file"
        )
    return (
        f"neither this project's layout nor today's Orcheo layout (tables {_names(found.tables)})"
    )


def _names(tables: tuple[str, ...]) -> str:
    shown = ", ".join(tables[:_SHOWN_TABLES])
    more = len(tables) - _SHOWN_TABLES
    return f"{shown} and {more} more" if more > 0 else shown


def migrate_commands(legacy: list[Path]) -> dict[str, str]:
    """The exact ``migrate run`` commands that carry today's files to each destination.

    When the files sit in one folder under today's names, ``--from-data-dir`` names that
    folder; otherwise the source is found through the same ``ORCHEO_*_PATH`` settings. The
    export folders and the new SQLite folder are siblings of the legacy folder (never in it).
    """
    folders = {p.parent for p in legacy}
    one_folder = len(folders) == 1 and all(p.name in DEFAULT_NAMES for p in legacy)
    base = legacy[0].parent
    source = f" --from-data-dir {_q(base)}" if one_folder else ""

    def sibling(suffix: str) -> Path:
        return base.parent / f"{base.name or 'orcheo'}{suffix}"

    return {
        "postgres": (
            f"orcheo-storage migrate run --from legacy{source} --to postgres "
            f"--folder {_q(sibling('-export-postgres'))}"
        ),
        "sqlite": (
            f"orcheo-storage migrate run --from legacy{source} --to sqlite "
            f"--to-data-dir {_q(sibling('-storage'))} "
            f"--folder {_q(sibling('-export-sqlite'))}"
        ),
    }


def _q(path: Path) -> str:
    return shlex.quote(str(path))


__all__ = [
    "LEGACY_COLUMNS",
    "LEGACY_ONLY_TABLES",
    "OWN_MARKER",
    "FileLayout",
    "Layout",
    "check_files",
    "classify",
    "inspect_file",
    "legacy_evidence",
    "migrate_commands",
    "read_tables",
    "refusal",
]
