"""Helpers of the kill tests (holds no tests): child settings, progress counters, data.

Imported by name (``pythonpath`` in the workspace's pytest configuration; a test run as a
script has its folder on ``sys.path``).
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import migration_support as support
import psycopg
from backend_support import DSN, EXAMPLE, opened
from orcheo_storage.migration.manifest import read_journal
from orcheo_storage.settings import BACKEND_SETTINGS, StorageSettings


def child_settings(settings: StorageSettings) -> str:
    data: dict[str, Any] = {f: settings.repository_backend for f in BACKEND_SETTINGS}
    data.update(
        repository_sqlite_path=str(settings.repository_sqlite_path),
        chatkit_sqlite_path=str(settings.chatkit_sqlite_path),
        vault_local_path=str(settings.vault_local_path),
        auth_service_token_db_path=str(settings.auth_service_token_db_path),
        postgres_dsn=DSN,
        postgres_schema=settings.postgres_schema,
        vault_encryption_key="migration-test-key",
        auto_migrate=False,
    )
    return json.dumps(data)


def exported_batches(folder: Path) -> int:
    if not folder.is_dir():
        return 0
    return sum(len(read_journal(d)) for d in folder.iterdir() if d.is_dir())


def ledger_rows(schema: str | None) -> int:
    with psycopg.connect(DSN, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = %s AND table_name = 'orcheo_migration_ledger'",
            (schema,),
        ).fetchone()
        if not row or not row[0]:
            return 0
        found = conn.execute(f'SELECT count(*) FROM "{schema}".orcheo_migration_ledger').fetchone()
        return int(found[0]) if found else 0


async def populate_bulk(settings: StorageSettings) -> None:
    async with opened("sqlite", settings, schema=True) as session:
        await support.populate(session, EXAMPLE, settings, webhook=False)
        history = session.history()
        for n in range(4):
            await history.start_run(execution_id=f"bulk-{n}", workflow_id="w")
            for i in range(300):
                await history.append_step(f"bulk-{n}", {"i": i, "text": "x" * (i % 50)})


def kill_when(
    child: subprocess.Popen[bytes],
    progress: Callable[[], int],
    target: int,
    rng: random.Random,
    *,
    name: str,
    max_delay: float = 0.05,
    before_kill: Callable[[], Callable[[], None]] | None = None,
) -> bool:
    """SIGKILL ``child`` once ``progress()`` reaches ``target``, plus a random few ms.

    The random extra delay lands the kill anywhere in the next batch: mid-write, between
    rename and journal, between COPY and COMMIT. ``before_kill`` runs just before the
    kill and returns a check to run once the child is reaped.

    Returns:
        ``True`` if the child was killed, ``False`` if it finished first (successfully:
        a failed child fails the test, naming ``name``).
    """
    while child.poll() is None and progress() < target:
        time.sleep(0.005)
    time.sleep(rng.uniform(0, max_delay))
    if child.poll() is None:
        after = before_kill() if before_kill is not None else None
        child.send_signal(signal.SIGKILL)
        child.wait()
        if after is not None:
            after()
        return True
    assert child.returncode == 0, f"{name} child failed with {child.returncode}"
    return False
