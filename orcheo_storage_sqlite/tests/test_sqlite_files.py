"""SQLite files at start-up (issue 13): created private (0600, with their -wal and -shm), and
a path that is not a SQLite database, or holds a NUL byte, is a typed error naming its
ORCHEO_ variable."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from orcheo_storage.errors import ConfigurationError, StorageError
from orcheo_storage.settings import BACKEND_SETTINGS, StorageSettings, load_settings
from orcheo_storage.storage import open_storage


def settings(folder: Path, **overrides: object) -> StorageSettings:
    values: dict[str, object] = {
        **dict.fromkeys(BACKEND_SETTINGS, "sqlite"),
        "repository_sqlite_path": folder / "wf.sqlite",
        "chatkit_sqlite_path": folder / "chat.sqlite",
        "vault_local_path": folder / "vault.sqlite",
        "auth_service_token_db_path": folder / "tokens.sqlite",
    }
    values.update(overrides)
    return StorageSettings(**values)  # type: ignore[arg-type]


def _modes(folder: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}


async def test_database_files_and_their_wal_and_shm_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask: files would be 0644 by default
    try:
        async with open_storage(settings(tmp_path)) as storage:
            wf = await storage.workflows.create_workflow(name="private", actor="t")
            await storage.vault.create_credential(name="c", provider="p", secret="s", actor="t")
            assert (await storage.workflows.get_workflow(wf.id)).name == "private"
            modes = _modes(tmp_path)
            assert {"wf.sqlite-wal", "wf.sqlite-shm", "vault.sqlite-wal"} <= set(modes)
            for name, mode in modes.items():
                assert mode == 0o600, f"{name}: {oct(mode)}"
    finally:
        os.umask(old)


@pytest.mark.parametrize(
    ("setting", "variable"),
    [
        ("repository_sqlite_path", "ORCHEO_REPOSITORY_SQLITE_PATH"),
        ("chatkit_sqlite_path", "ORCHEO_CHATKIT_SQLITE_PATH"),
        ("vault_local_path", "ORCHEO_VAULT_LOCAL_PATH"),
        ("auth_service_token_db_path", "ORCHEO_AUTH_SERVICE_TOKEN_DB_PATH"),
    ],
)
async def test_a_file_that_is_not_a_database_names_its_variable(
    tmp_path: Path, setting: str, variable: str
) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("just some text, not a database\n" * 200)
    with pytest.raises(ConfigurationError) as info:
        async with open_storage(settings(tmp_path, **{setting: path})):
            pass
    assert variable in str(info.value)
    assert "not a SQLite database" in str(info.value)
    assert path.read_text().startswith("just some text")  # left untouched


async def test_a_folder_where_the_file_should_be_is_a_typed_error(tmp_path: Path) -> None:
    (tmp_path / "wf.sqlite").mkdir()
    with pytest.raises(StorageError, match="ORCHEO_REPOSITORY_SQLITE_PATH"):
        async with open_storage(settings(tmp_path)):
            pass


def test_a_nul_byte_in_a_path_names_its_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith("ORCHEO_"):
            monkeypatch.delenv(name)
    with pytest.raises(ConfigurationError, match="ORCHEO_CHATKIT_SQLITE_PATH"):
        load_settings(chatkit_sqlite_path=f"{tmp_path}/chat\x00.sqlite")
