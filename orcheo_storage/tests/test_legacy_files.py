"""orcheo_storage.legacy_files: classifying SQLite files by their tables, writing nothing."""

from __future__ import annotations

import hashlib
import shlex
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest
from orcheo_storage.errors import ForeignFilesError, LegacyFilesError
from orcheo_storage.legacy_files import (
    OWN_MARKER,
    Layout,
    check_files,
    classify,
    inspect_file,
    migrate_commands,
    read_tables,
)

CORPUS = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "legacy-corpus"


def snapshot(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def make_db(path: Path, *statements: str) -> Path:
    conn = sqlite3.connect(path)
    try:
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()
    return path


COLS = frozenset({"id"})


@pytest.mark.parametrize(
    ("tables", "layout"),
    [
        ({}, Layout.EMPTY),
        ({OWN_MARKER: COLS, "workflows": frozenset({"id", "name", "graph"})}, Layout.OWN),
        ({OWN_MARKER: COLS, "my_own_extra": COLS}, Layout.OWN),
        ({"credentials": COLS}, Layout.LEGACY),  # a name only today's Orcheo uses
        ({"workflows": frozenset({"id", "payload"})}, Layout.LEGACY),  # a telling column
        ({"chat_threads": frozenset({"id", "status_json"})}, Layout.LEGACY),
        ({"credentials": COLS, OWN_MARKER: COLS, "vault_credentials": COLS}, Layout.MIXED),
        ({"customers": COLS}, Layout.UNKNOWN),
        # shared names without a telling column are no evidence either way
        ({"webhook_triggers": frozenset({"workflow_id", "config"})}, Layout.UNKNOWN),
        ({"workflows": frozenset({"id", "name"})}, Layout.UNKNOWN),  # ours, without the marker
    ],
)
def test_classify(tables: dict[str, frozenset[str]], layout: Layout) -> None:
    assert classify(Path("x.sqlite"), tables).layout is layout


@pytest.mark.parametrize("variant", ["v-current", "v-old"])
def test_every_corpus_file_is_legacy_and_reading_it_writes_nothing(
    tmp_path: Path, variant: str
) -> None:
    for source in (CORPUS / variant).glob("*.sqlite"):
        shutil.copyfile(source, tmp_path / source.name)
    before = snapshot(tmp_path)
    for path in sorted(tmp_path.iterdir()):
        found = inspect_file(path)
        assert found.layout is Layout.LEGACY, path.name
        assert found.legacy_tables
    assert snapshot(tmp_path) == before  # WAL-mode files too: no -wal, no -shm


def test_missing_empty_and_non_database_files(tmp_path: Path) -> None:
    assert inspect_file(tmp_path / "nope.sqlite").layout is Layout.MISSING
    (tmp_path / "empty.sqlite").touch()
    assert inspect_file(tmp_path / "empty.sqlite").layout is Layout.EMPTY
    (tmp_path / "text.sqlite").write_text("hello " * 1000)
    found = inspect_file(tmp_path / "text.sqlite")
    assert (found.layout, found.reason) == (Layout.NOT_SQLITE, "no SQLite header")
    real = make_db(tmp_path / "real.sqlite", "CREATE TABLE t (x TEXT)").read_bytes()
    (tmp_path / "torn.sqlite").write_bytes(real[:100] + b"\xff" * (len(real) - 100))
    torn = inspect_file(tmp_path / "torn.sqlite")  # a header, then garbage
    assert torn.layout is Layout.NOT_SQLITE
    assert torn.reason
    (tmp_path / "folder.sqlite").mkdir()  # cannot be read: the open itself reports why
    unreadable = inspect_file(tmp_path / "folder.sqlite")
    assert unreadable.layout is Layout.UNREADABLE
    assert unreadable.layout.openable


def test_names_are_compared_case_insensitively(tmp_path: Path) -> None:
    upper = make_db(tmp_path / "a.sqlite", "CREATE TABLE Credentials (ID TEXT, Payload TEXT)")
    assert inspect_file(upper).layout is Layout.LEGACY
    ours = make_db(tmp_path / "b.sqlite", "CREATE TABLE ORCHEO_SCHEMA_MIGRATIONS (c TEXT)")
    assert inspect_file(ours).layout is Layout.OWN
    lookalike = make_db(tmp_path / "c.sqlite", "CREATE TABLE sqliteish (c TEXT)")
    assert inspect_file(lookalike).layout is Layout.UNKNOWN  # only sqlite_* is internal


def test_tables_still_in_the_write_ahead_log_are_seen(tmp_path: Path) -> None:
    """A file whose tables are only in its -wal (a live Orcheo not yet checkpointed)."""
    path = tmp_path / "vault.sqlite"
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.execute("CREATE TABLE credentials (id TEXT PRIMARY KEY, payload TEXT)")
        assert read_tables(path) == {}  # the main file alone holds no table yet
        assert inspect_file(path).layout is Layout.LEGACY
    finally:
        writer.close()


def test_the_commands_name_the_folder_and_quote_paths(tmp_path: Path) -> None:
    folder = tmp_path / "my orcheo"
    commands = migrate_commands([folder / "workflows.sqlite", folder / "vault.sqlite"])
    sqlite = shlex.split(commands["sqlite"])
    assert sqlite == [
        "orcheo-storage", "migrate", "run", "--from", "legacy", "--from-data-dir", str(folder),
        "--to", "sqlite", "--to-data-dir", f"{folder}-storage", "--folder", f"{folder}-export-sqlite",
    ]  # fmt: skip
    assert shlex.split(commands["postgres"])[5:] == [
        "--from-data-dir", str(folder), "--to", "postgres", "--folder", f"{folder}-export-postgres",
    ]  # fmt: skip


def test_files_under_other_names_are_found_through_the_settings(tmp_path: Path) -> None:
    commands = migrate_commands([tmp_path / "repo.db", tmp_path / "vault.sqlite"])
    assert "--from-data-dir" not in commands["sqlite"]
    assert "--from-data-dir" not in commands["postgres"]
    root = migrate_commands([Path("/workflows.sqlite")])
    assert "--to-data-dir /orcheo-storage " in root["sqlite"]


def test_check_files_refuses_with_every_setting_named(tmp_path: Path) -> None:
    legacy = make_db(tmp_path / "chatkit.sqlite", "CREATE TABLE chat_messages (id TEXT)")
    own = make_db(tmp_path / "workflows.sqlite", f"CREATE TABLE {OWN_MARKER} (c TEXT)")
    before = snapshot(tmp_path)
    with pytest.raises(LegacyFilesError) as info:
        check_files({"ORCHEO_A_PATH": own, "ORCHEO_B_PATH": legacy, "ORCHEO_C_PATH": legacy})
    assert snapshot(tmp_path) == before
    assert info.value.files == {str(legacy): "orcheo-legacy"}
    assert f"{legacy} (ORCHEO_B_PATH, ORCHEO_C_PATH): today's Orcheo layout" in str(info.value)
    assert "ORCHEO_LEGACY_VAULT_ENCRYPTION_KEY" not in str(info.value)  # no vault file
    assert [f.layout for f in check_files({"ORCHEO_A_PATH": own})] == [Layout.OWN]


def test_only_unknown_files_give_no_migrate_commands(tmp_path: Path) -> None:
    other = make_db(tmp_path / "app.sqlite", "CREATE TABLE customers (id TEXT)")
    with pytest.raises(ForeignFilesError) as info:
        check_files({"ORCHEO_VAULT_LOCAL_PATH": other})
    assert not isinstance(info.value, LegacyFilesError)
    assert "migrate run" not in str(info.value)
    assert "customers" in str(info.value)
    assert info.value.files == {str(other): "unknown"}


def test_a_file_another_connection_is_writing_reads_consistently(tmp_path: Path) -> None:
    """This project's own file, live: schema changes and checkpoints while it is inspected."""
    path = tmp_path / "workflows.sqlite"
    setup = sqlite3.connect(path, isolation_level=None)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute(f"CREATE TABLE {OWN_MARKER} (c TEXT)")
    setup.execute("CREATE TABLE filler (x TEXT)")
    setup.close()
    stop = threading.Event()

    def churn() -> None:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            n = 0
            while not stop.is_set():
                n += 1
                conn.execute(f"CREATE TABLE t{n} (a TEXT, b TEXT, c TEXT)")
                conn.execute("INSERT INTO filler VALUES (?)", ("x" * 3000,))
                if n % 3 == 0:
                    conn.execute(f"DROP TABLE t{n - 1}")
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()

    writer = threading.Thread(target=churn)
    writer.start()
    try:
        seen = {inspect_file(path).layout for _ in range(300)}
    finally:
        stop.set()
        writer.join()
    assert seen == {Layout.OWN}
