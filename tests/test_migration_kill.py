"""Kill tests: export and import SIGKILLed at random points, then resumed to the end.

The source is a real SQLite backend, the target a real PostgreSQL schema; the child
process is ``migration_support.py`` run as a script. After ten kills of each step the
migration is finished in-process and verified: equal, no duplicate keys, no missing rows,
and every batch in the target's ledger exactly once.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from backend_support import opened, provisioned
from kill_support import child_settings, exported_batches, kill_when, ledger_rows, populate_bulk
from orcheo_storage.migration.export import export
from orcheo_storage.migration.folder import FolderSource
from orcheo_storage.migration.importer import import_folder
from orcheo_storage.migration.manifest import read_journal, read_manifest
from orcheo_storage.migration.sources import BackendSource
from orcheo_storage.migration.verify import verify
from orcheo_storage.settings import StorageSettings

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CHILD = Path(__file__).with_name("migration_support.py")
KILLS = 10


def _kill_when(
    action: str,
    settings: StorageSettings,
    folder: Path,
    done: Callable[[], int],
    target: int,
    rng: random.Random,
) -> bool:
    """Start the child; SIGKILL it once ``done()`` reaches ``target`` (plus a random few ms).

    Returns ``True`` if the child was killed, ``False`` if it finished first.
    """
    child = subprocess.Popen(
        [sys.executable, str(CHILD), action, child_settings(settings), str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return kill_when(child, done, target, rng, name=action)


def test_killed_export_and_import_resume_exactly_once(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("KILL_SEED", "6")))
    folder = tmp_path / "export"

    async def setup(stack: AsyncExitStack) -> tuple[StorageSettings, StorageSettings]:
        src = await stack.enter_async_context(provisioned("sqlite", tmp_path))
        src = src.model_copy(update={"sqlite_synchronous": "NORMAL"})
        dst = await stack.enter_async_context(provisioned("postgres", tmp_path))
        await populate_bulk(src)
        return src, dst

    async def finish_export(src: StorageSettings) -> None:
        async with opened("sqlite", src, schema=False) as session:
            await export(BackendSource(session, "kill-source"), folder, batch_size=7)

    async def finish_and_check(src: StorageSettings, dst: StorageSettings) -> None:
        async with (
            opened("sqlite", src, schema=False) as source,
            opened("postgres", dst, schema=True) as target,
        ):
            result = await import_folder(target.bulk(), folder)
            for table, counts in result.tables.items():
                assert counts.adds_up, (table, counts)
            manifest = read_manifest(folder)
            assert manifest is not None
            ids = {b.batch_id(t.name) for t in manifest.tables for b in t.batches}
            assert await target.bulk().imported_batches() == ids
            for reference in (BackendSource(source, "src"), FolderSource(folder)):
                report = await verify(reference, BackendSource(target, "dst"))
                assert report.ok, [str(d) for d in report.differences]

    async def _counts(src: StorageSettings) -> list[int]:
        async with opened("sqlite", src, schema=False) as session:
            bulk = session.bulk()
            return [await bulk.count_rows(t) for t in BackendSource(session, "s").tables()]

    async def main() -> tuple[int, int]:
        async with AsyncExitStack() as stack:
            src, dst = await setup(stack)
            total = sum(-(-n // 7) for n in await _counts(src))
            targets = sorted(rng.sample(range(1, total), KILLS))
            export_kills = 0
            for target in targets:
                export_kills += await asyncio.to_thread(
                    _kill_when,
                    "export",
                    src,
                    folder,
                    lambda: exported_batches(folder),
                    target,
                    rng,
                )
            # A killed export never leaves a half batch that looks complete.
            for table_dir in folder.iterdir():
                if table_dir.is_dir():
                    for entry in read_journal(table_dir):
                        assert (table_dir / entry.file_name()).stat().st_size == entry.bytes
            await finish_export(src)
            targets = sorted(rng.sample(range(1, total), KILLS))
            import_kills = 0
            for target in targets:
                import_kills += await asyncio.to_thread(
                    _kill_when,
                    "import",
                    dst,
                    folder,
                    lambda: ledger_rows(dst.postgres_schema),
                    target,
                    rng,
                )
            await finish_and_check(src, dst)
            return export_kills, import_kills

    export_kills, import_kills = asyncio.run(main())
    print(f"export killed {export_kills} times, import killed {import_kills} times")
    assert export_kills == KILLS
    assert import_kills == KILLS
