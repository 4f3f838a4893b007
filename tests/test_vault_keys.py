"""Vault keys at start-up (issue 13): the key file is created atomically, an empty key is never
used, a wrong key is refused before it writes, and a shared server needs an explicit key."""

from __future__ import annotations

import asyncio
import hashlib
import json
import multiprocessing
import os
import stat
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from orcheo_storage.crypto import load_or_create_key_file
from orcheo_storage.errors import ConfigurationError, StorageError
from orcheo_storage.settings import BACKEND_SETTINGS, StorageSettings
from orcheo_storage.storage import open_storage
from pydantic import SecretStr

PROCESSES = 8
DSN = os.environ.get("ORCHEO_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def sqlite_settings(folder: Path, **overrides: object) -> StorageSettings:
    values: dict[str, object] = {
        **dict.fromkeys(BACKEND_SETTINGS, "sqlite"),
        "repository_sqlite_path": folder / "wf.sqlite",
        "chatkit_sqlite_path": folder / "chat.sqlite",
        "vault_local_path": folder / "vault.sqlite",
        "auth_service_token_db_path": folder / "tokens.sqlite",
    }
    values.update(overrides)
    return StorageSettings(**values)  # type: ignore[arg-type]


# --- the key file race ----------------------------------------------------------------------------


def _race_worker(folder: str, rounds: int, barrier: object, results: object) -> None:
    """Each round: wait for the others, then all read-or-create the same fresh key file."""
    for index in range(rounds):
        barrier.wait()  # type: ignore[attr-defined]
        try:
            key = load_or_create_key_file(Path(folder) / f"round-{index}" / "vault.key")
            outcome = hashlib.sha256(key.encode()).hexdigest() if key else "EMPTY"
        except Exception as exc:  # the test asserts there is none
            outcome = f"{type(exc).__name__}: {exc}"
        results.put((index, outcome))  # type: ignore[attr-defined]


def test_eight_processes_creating_the_key_file_agree(tmp_path: Path) -> None:
    rounds = 40
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    workers = [
        context.Process(target=_race_worker, args=(str(tmp_path), rounds, barrier, results))
        for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    outcomes: dict[int, list[str]] = {}
    for _ in range(rounds * PROCESSES):
        index, outcome = results.get(timeout=120)
        outcomes.setdefault(index, []).append(outcome)
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    empty_hash = hashlib.sha256(b"").hexdigest()
    for index, seen in sorted(outcomes.items()):
        assert len(set(seen)) == 1, f"round {index}: {seen}"
        assert seen[0] not in ("EMPTY", empty_hash), f"round {index}: {seen}"
        assert len(seen[0]) == 64, f"round {index}: {seen}"  # a hash, not an error
        key_file = tmp_path / f"round-{index}" / "vault.key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert hashlib.sha256(key_file.read_text().encode()).hexdigest() == seen[0]
        assert [p.name for p in key_file.parent.iterdir()] == ["vault.key"]  # no leftovers


_STARTER = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from pathlib import Path
    from orcheo_storage.settings import BACKEND_SETTINGS, StorageSettings
    from orcheo_storage.storage import open_storage

    folder, start_at, name = Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    settings = StorageSettings(
        **dict.fromkeys(BACKEND_SETTINGS, "sqlite"),
        repository_sqlite_path=folder / "wf.sqlite", chatkit_sqlite_path=folder / "chat.sqlite",
        vault_local_path=folder / "vault.sqlite", auth_service_token_db_path=folder / "t.sqlite",
    )

    async def main():
        time.sleep(max(0.0, start_at - time.time()))
        async with open_storage(settings) as storage:
            cred = await storage.vault.create_credential(
                name=name, provider="p", secret=f"secret-{name}", actor="a"
            )
            revealed = (await storage.vault.reveal_secret(cred.id)).get_secret_value()
        print(json.dumps({"id": str(cred.id), "revealed": revealed}))

    asyncio.run(main())
    """
)


def test_eight_processes_starting_on_a_fresh_vault_share_one_key(tmp_path: Path) -> None:
    """No key configured, no key file: 8 processes open storage at the same instant."""
    start_at = time.time() + 3.0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _STARTER, str(tmp_path), str(start_at), f"p{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(PROCESSES)
    ]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    for (_, err), proc in zip(outputs, procs, strict=True):
        assert proc.returncode == 0, err
        assert "Traceback" not in err
    created = [json.loads(out) for out, _ in outputs]
    assert {c["revealed"] for c in created} == {f"secret-p{i}" for i in range(PROCESSES)}
    assert (tmp_path / "vault.key").read_text().strip()

    async def reveal_all() -> None:
        async with open_storage(sqlite_settings(tmp_path)) as storage:  # the key file's key
            for entry in created:
                secret = await storage.vault.reveal_secret(uuid.UUID(entry["id"]))
                assert secret.get_secret_value() == entry["revealed"]

    asyncio.run(reveal_all())


# --- empty and wrong keys -------------------------------------------------------------------------


async def test_an_empty_key_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "vault.key").write_text("  \n")
    with pytest.raises(ConfigurationError, match="empty"):
        async with open_storage(sqlite_settings(tmp_path)):
            pass
    assert (tmp_path / "vault.key").read_text() == "  \n"  # left for the operator


def test_an_empty_key_given_in_code_is_refused(tmp_path: Path) -> None:
    settings = sqlite_settings(tmp_path).model_copy(update={"vault_encryption_key": SecretStr("")})
    from orcheo_storage.keys import cipher_for

    with pytest.raises(ConfigurationError, match="empty"):
        cipher_for(settings)


async def test_a_wrong_key_is_refused_at_start_up_on_sqlite(tmp_path: Path) -> None:
    right = sqlite_settings(tmp_path, vault_encryption_key="the-right-key")
    async with open_storage(right) as storage:
        cred = await storage.vault.create_credential(name="c", provider="p", secret="s", actor="a")
    wrong = sqlite_settings(tmp_path, vault_encryption_key="a-wrong-key")
    with pytest.raises(ConfigurationError, match="not the key this vault was written with"):
        async with open_storage(wrong) as storage:
            await storage.vault.create_credential(name="d", provider="p", secret="s", actor="a")
    async with open_storage(right) as storage:
        assert [c.name for c in await storage.vault.list_credentials()] == ["c"]
        assert (await storage.vault.reveal_secret(cred.id)).get_secret_value() == "s"


async def test_a_lost_key_file_is_noticed_at_start_up(tmp_path: Path) -> None:
    async with open_storage(sqlite_settings(tmp_path)) as storage:
        await storage.vault.create_credential(name="c", provider="p", secret="s", actor="a")
    (tmp_path / "vault.key").unlink()  # a new random key would be created...
    with pytest.raises(ConfigurationError, match="not the key"):
        async with open_storage(sqlite_settings(tmp_path)):
            pass


# --- shared servers -------------------------------------------------------------------------------


@pytest.mark.parametrize("backend_setting", ["vault_backend", "repository_backend"])
def test_a_shared_server_needs_an_explicit_key(
    tmp_path: Path, pg_dsn: str, backend_setting: str
) -> None:
    from orcheo_storage_postgres.plugin import PostgresBackend

    base = sqlite_settings(tmp_path, postgres_dsn=pg_dsn, vault_encryption_key="k")

    async def start() -> None:
        async with PostgresBackend().provision(base, tmp_path) as provisioned:  # never public
            settings = provisioned.model_copy(
                update={backend_setting: "postgres", "vault_encryption_key": None}
            )
            async with open_storage(settings):
                pass

    with pytest.raises(ConfigurationError, match="ORCHEO_VAULT_ENCRYPTION_KEY is required"):
        asyncio.run(start())
    assert not list(tmp_path.glob("*.key"))


async def test_a_wrong_key_is_refused_at_start_up_on_postgres(pg_dsn: str, tmp_path: Path) -> None:
    from orcheo_storage_postgres.plugin import PostgresBackend

    base = StorageSettings(
        **dict.fromkeys(BACKEND_SETTINGS, "postgres"),
        postgres_dsn=pg_dsn,
        vault_encryption_key="the-right-key",
    )
    async with PostgresBackend().provision(base, tmp_path) as right:
        async with open_storage(right) as storage:
            await storage.vault.create_credential(name="c", provider="p", secret="s", actor="a")
        wrong = right.model_copy(update={"vault_encryption_key": SecretStr("wrong")})
        with pytest.raises(ConfigurationError):
            async with open_storage(wrong):
                pass
        async with open_storage(right) as storage:
            assert len(await storage.vault.list_credentials()) == 1


def test_no_raw_error_escapes_key_file_creation(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(StorageError):
        load_or_create_key_file(blocker / "vault.key")
