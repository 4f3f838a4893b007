"""Today's Orcheo files met by the sqlite backend: refused before anything is written.

Every refusal test works on copies of the legacy corpus (files written by Orcheo itself) and
asserts that the folder is byte-identical afterwards and holds no new file (no ``-wal``,
``-shm``, ``-journal``, key file or table added).
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import orcheo_storage.storage as storage_api
import pytest
from orcheo_storage.errors import (
    ConfigurationError,
    ForeignFilesError,
    LegacyFilesError,
    SchemaBehindError,
)
from orcheo_storage.legacy_files import Layout, inspect_file, legacy_evidence, read_tables
from orcheo_storage.settings import BACKEND_SETTINGS, StorageSettings
from orcheo_storage_sqlite.engine import Database
from orcheo_storage_sqlite.migrations import VERSION_TABLE, apply
from orcheo_storage_sqlite.schema import COMPONENTS
from orcheo_storage_sqlite.session import SqliteSession

CORPUS = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "legacy-corpus"
# component -> (today's file name, the setting naming it, the backend setting selecting it)
FILES = {
    "repository": ("workflows.sqlite", "ORCHEO_REPOSITORY_SQLITE_PATH", "repository_backend"),
    "chat": ("chatkit.sqlite", "ORCHEO_CHATKIT_SQLITE_PATH", "chatkit_backend"),
    "tokens": ("service_tokens.sqlite", "ORCHEO_AUTH_SERVICE_TOKEN_DB_PATH", "auth_service_token_backend"),
    "vault": ("vault.sqlite", "ORCHEO_VAULT_LOCAL_PATH", "vault_backend"),
}  # fmt: skip
FACTORIES = {
    "repository": [
        "create_repository", "create_trigger_store", "create_listener_store",
        "create_remediation_store", "create_history_store", "create_agentensor_store",
    ],
    "chat": ["create_chatkit_store"],
    "tokens": ["create_service_token_store"],
    "vault": ["create_vault"],
}  # fmt: skip


def snapshot(folder: Path) -> dict[str, str]:
    """Every file of ``folder`` by name with its SHA-256 (new side files show up as keys)."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def copy_corpus(variant: str, folder: Path, names: list[str] | None = None) -> Path:
    """Copy (some of) the corpus files of ``variant`` into ``folder``; never open the originals."""
    folder.mkdir(parents=True, exist_ok=True)
    for source in sorted((CORPUS / variant).glob("*.sqlite")):
        if names is None or source.name in names:
            shutil.copyfile(source, folder / source.name)
    return folder


def settings_for(folder: Path, *, only: str | None = None, **extra: object) -> StorageSettings:
    """Every SQLite file in ``folder``; with ``only``, just that component selects sqlite."""
    values: dict[str, object] = {
        "repository_sqlite_path": folder / "workflows.sqlite",
        "chatkit_sqlite_path": folder / "chatkit.sqlite",
        "vault_local_path": folder / "vault.sqlite",
        "auth_service_token_db_path": folder / "service_tokens.sqlite",
        "vault_encryption_key": "test-key-not-a-secret",
    }
    if only is not None:
        values.update(dict.fromkeys(BACKEND_SETTINGS, "memory"))
        values[FILES[only][2]] = "sqlite"
    values.update(extra)
    return StorageSettings(**values)  # type: ignore[arg-type]


def assert_names_and_commands(error: LegacyFilesError, folder: Path, names: list[str]) -> None:
    text = str(error)
    for name in names:
        assert str(folder.resolve() / name) in text
        assert error.files[str(folder.resolve() / name)] == "orcheo-legacy"
    assert len(error.files) == len(names)
    source = f"--from-data-dir {folder.resolve()}"
    assert error.commands["postgres"] == (
        f"orcheo-storage migrate run --from legacy {source} --to postgres "
        f"--folder {folder.resolve()}-export-postgres"
    )
    assert error.commands["sqlite"] == (
        f"orcheo-storage migrate run --from legacy {source} --to sqlite "
        f"--to-data-dir {folder.resolve()}-storage --folder {folder.resolve()}-export-sqlite"
    )
    assert error.commands["postgres"] in text
    assert error.commands["sqlite"] in text


# --- each file alone, every factory ----------------------------------------------------------------


@pytest.mark.parametrize("auto_migrate", [True, False], ids=["auto-migrate", "no-auto-migrate"])
@pytest.mark.parametrize("component", list(FILES))
async def test_one_legacy_file_alone_is_refused(
    tmp_path: Path, component: str, auto_migrate: bool
) -> None:
    name, setting, _ = FILES[component]
    folder = copy_corpus("v-current", tmp_path / "orcheo", [name])
    before = snapshot(folder)
    with pytest.raises(LegacyFilesError) as info:
        await SqliteSession.open(settings_for(folder, only=component, auto_migrate=auto_migrate))
    assert snapshot(folder) == before
    assert_names_and_commands(info.value, folder, [name])
    assert setting in str(info.value)
    assert ("ORCHEO_LEGACY_VAULT_ENCRYPTION_KEY" in str(info.value)) == (component == "vault")


@pytest.mark.parametrize("auto_migrate", [True, False], ids=["auto-migrate", "no-auto-migrate"])
@pytest.mark.parametrize(
    ("component", "factory"), [(c, f) for c, names in FACTORIES.items() for f in names]
)
async def test_every_factory_refuses_its_legacy_file(
    tmp_path: Path, component: str, factory: str, auto_migrate: bool
) -> None:
    folder = copy_corpus("v-current", tmp_path / "orcheo", [FILES[component][0]])
    before = snapshot(folder)
    settings = settings_for(folder, only=component, auto_migrate=auto_migrate)
    with pytest.raises(LegacyFilesError):
        async with getattr(storage_api, factory)(settings):
            pytest.fail("the factory handed out a store on today's Orcheo file")
    assert snapshot(folder) == before


# --- all files at once ---------------------------------------------------------------------------


@pytest.mark.parametrize("auto_migrate", [True, False], ids=["auto-migrate", "no-auto-migrate"])
@pytest.mark.parametrize("variant", ["v-current", "v-old"])
async def test_open_storage_refuses_every_legacy_file(
    tmp_path: Path, variant: str, auto_migrate: bool
) -> None:
    folder = copy_corpus(variant, tmp_path / "orcheo")
    names = sorted(p.name for p in folder.iterdir())
    before = snapshot(folder)
    with pytest.raises(LegacyFilesError) as info:
        async with storage_api.open_storage(settings_for(folder, auto_migrate=auto_migrate)):
            pytest.fail("storage opened on today's Orcheo files")
    assert snapshot(folder) == before
    assert_names_and_commands(info.value, folder, names)


async def test_files_outside_one_folder_get_commands_through_the_settings(tmp_path: Path) -> None:
    repo = copy_corpus("v-current", tmp_path / "a", ["workflows.sqlite"])
    vault = copy_corpus("v-current", tmp_path / "b", ["vault.sqlite"])
    before = snapshot(repo), snapshot(vault)
    settings = settings_for(tmp_path / "a", vault_local_path=vault / "vault.sqlite")
    with pytest.raises(LegacyFilesError) as info:
        await SqliteSession.open(settings)
    assert (snapshot(repo), snapshot(vault)) == before
    assert "--from-data-dir" not in str(info.value)  # the source comes from ORCHEO_*_PATH
    assert info.value.commands["postgres"].startswith(
        "orcheo-storage migrate run --from legacy --to postgres --folder "
    )
    assert sorted(info.value.files) == [str(repo / "workflows.sqlite"), str(vault / "vault.sqlite")]


# --- both layouts, unknown layouts, not a database -----------------------------------------------


def _add_own_tables(path: Path) -> None:
    """What the sqlite backend of before this fix did to a legacy vault file."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("CREATE TABLE orcheo_schema_migrations (component TEXT, version INTEGER)")
        conn.execute("CREATE TABLE vault_credentials (id TEXT PRIMARY KEY)")
        conn.commit()
    finally:
        conn.close()


async def test_a_file_with_both_layouts_is_refused(tmp_path: Path) -> None:
    folder = copy_corpus("v-current", tmp_path / "orcheo", ["vault.sqlite"])
    _add_own_tables(folder / "vault.sqlite")
    before = snapshot(folder)
    with pytest.raises(LegacyFilesError) as info:
        await SqliteSession.open(settings_for(folder, only="vault"))
    assert snapshot(folder) == before
    assert info.value.files == {str(folder.resolve() / "vault.sqlite"): "mixed"}
    assert "this project's tables" in str(info.value)


@pytest.mark.parametrize("auto_migrate", [True, False], ids=["auto-migrate", "no-auto-migrate"])
async def test_an_unknown_layout_is_refused(tmp_path: Path, auto_migrate: bool) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    conn = sqlite3.connect(folder / "workflows.sqlite")
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.commit()
    conn.close()
    (folder / "vault.sqlite").write_bytes(b"not a database, just text " * 200)
    before = snapshot(folder)
    with pytest.raises(ForeignFilesError) as info:
        await SqliteSession.open(settings_for(folder, auto_migrate=auto_migrate))
    assert not isinstance(info.value, LegacyFilesError)
    assert snapshot(folder) == before
    assert info.value.files == {
        str(folder.resolve() / "workflows.sqlite"): "unknown",
        str(folder.resolve() / "vault.sqlite"): "not-sqlite",
    }
    assert "customers" in str(info.value)


# --- what still opens ------------------------------------------------------------------------------


async def test_own_and_empty_files_still_open(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "chatkit.sqlite").touch()  # an empty file is a new database
    session = await SqliteSession.open(settings_for(folder))
    await session.close()
    again = await SqliteSession.open(settings_for(folder))  # our own layout
    try:
        assert (await again.schema_status()).pending == []
    finally:
        await again.close()


# --- ORCHEO_AUTO_MIGRATE off with a schema behind ----------------------------------------------------


async def test_auto_migrate_off_on_a_fresh_file_names_migrate_schema(tmp_path: Path) -> None:
    session = await SqliteSession.open(settings_for(tmp_path, auto_migrate=False))
    try:
        stores: list[Callable[[], object]] = [
            session.workflows, session.agentensor, session.service_tokens,
            session.vault_records, session.chatkit,
        ]  # fmt: skip
        for store in stores:
            with pytest.raises(SchemaBehindError, match="run `orcheo-storage migrate-schema`"):
                store()
        assert await session.migrate_schema() != []
        assert await session.workflows().list_workflows() is not None  # usable once migrated
    finally:
        await session.close()


async def test_auto_migrate_off_with_one_step_missing_names_it(tmp_path: Path) -> None:
    steps = COMPONENTS["repository"]
    db = Database(tmp_path / "workflows.sqlite")
    await db.open()
    try:
        await apply(db, {"repository": steps[:-1]})
    finally:
        await db.close()
    session = await SqliteSession.open(
        settings_for(tmp_path, only="repository", auto_migrate=False)
    )
    try:
        with pytest.raises(SchemaBehindError) as info:
            session.agentensor()
        assert info.value.pending == [f"repository:{steps[-1].version:04d} {steps[-1].name}"]
        assert isinstance(info.value, ConfigurationError)
    finally:
        await session.close()


# --- the detector never mistakes this project's files --------------------------------------------


@pytest.mark.parametrize("component", list(COMPONENTS))
def test_own_tables_are_never_taken_for_legacy_ones(tmp_path: Path, component: str) -> None:
    """After every prefix of every component's steps the file reads as this project's own."""
    steps = COMPONENTS[component]
    for count in range(1, len(steps) + 1):
        path = tmp_path / f"{component}-{count}.sqlite"
        conn = sqlite3.connect(path)
        try:
            conn.execute(VERSION_TABLE)
            for step in steps[:count]:
                for statement in step.statements:
                    conn.execute(statement)
            conn.commit()
        finally:
            conn.close()
        tables = read_tables(path)
        assert legacy_evidence(tables) == [], (component, count)
        assert inspect_file(path).layout is Layout.OWN
