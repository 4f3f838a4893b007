"""Kill test: the pipelined ``migrate run`` SIGKILLed at random points, then run again.

Source: a real SQLite backend; target: a real PostgreSQL schema. The child is this file
run as a script (``migrate`` with the pipeline on, each table verified in a worker
process against the export folder). Kill points are drawn over exported batches plus
ledger rows, so kills land in the export, in the import (inside COPY, between COPY and
COMMIT), in both while they overlap, and in the verify tail; a random few ms more move
the kill inside the next step. After the kills the run is finished in-process: the
summary is equal, every count adds up, the target equals the source and the export
folder, and the ledger holds exactly the manifest's batch ids (each once: it is the
ledger's primary key).
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from orcheo_storage.migration.folder import FolderSource
from orcheo_storage.migration.manifest import read_manifest
from orcheo_storage.migration.run import migrate, open_backend
from orcheo_storage.migration.sources import BackendSource
from orcheo_storage.migration.verify import verify
from orcheo_storage.settings import StorageSettings

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

KILLS = 10
BATCH = 7


async def _child(raw_source: str, raw_target: str, folder: str) -> None:
    source_settings = StorageSettings(**json.loads(raw_source))
    target_settings = StorageSettings(**json.loads(raw_target))
    source = await open_backend(source_settings.repository_backend, source_settings)
    target = await open_backend(target_settings.repository_backend, target_settings)
    try:
        summary = await migrate(
            BackendSource(source, "kill-source"),
            target,
            Path(folder),
            batch_size=BATCH,
            verify_against_source=False,
        )
        if not summary.ok:
            raise SystemExit(3)
    finally:
        await target.close()
        await source.close()


if __name__ == "__main__":
    asyncio.run(_child(*sys.argv[1:]))
    sys.exit(0)


@functools.cache
def _kill() -> Any:
    # Loaded on first use, not at import: the child's spawned verify worker imports
    # this file too (as ``__mp_main__``) and needs none of it.
    return importlib.import_module("kill_support")


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _assert_gone(pids: list[int]) -> None:
    """The killed run's worker processes exit by themselves (within a few seconds)."""
    deadline = time.monotonic() + 5
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if Path(f"/proc/{p}").exists() and not _zombie(p)]
    assert not alive, f"worker processes {alive} outlived the killed run"


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _run_until(
    src: StorageSettings,
    dst: StorageSettings,
    folder: Path,
    target: int,
    rng: random.Random,
) -> bool:
    """Start the child; SIGKILL it once exported batches + ledger rows reach ``target``."""
    kill = _kill()
    child = subprocess.Popen(
        [sys.executable, __file__, kill.child_settings(src), kill.child_settings(dst),
         str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip

    def progress() -> int:
        return int(kill.exported_batches(folder)) + int(kill.ledger_rows(dst.postgres_schema))

    def watch_workers() -> Callable[[], None]:
        workers = _children(child.pid)
        return lambda: _assert_gone(workers)

    return bool(
        kill.kill_when(child, progress, target, rng, name="migrate run", before_kill=watch_workers)
    )


def test_killed_pipelined_run_resumes_exactly_once(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("KILL_SEED", "11")))
    folder = tmp_path / "export"
    kill = _kill()
    helpers = importlib.import_module("backend_support")

    async def main() -> int:
        async with AsyncExitStack() as stack:
            src = await stack.enter_async_context(helpers.provisioned("sqlite", tmp_path))
            src = src.model_copy(update={"sqlite_synchronous": "NORMAL"})
            dst = await stack.enter_async_context(helpers.provisioned("postgres", tmp_path))
            await kill.populate_bulk(src)
            async with helpers.opened("postgres", dst, schema=True):
                pass  # the schema first, so progress can count ledger rows from the start
            async with helpers.opened("sqlite", src, schema=False) as session:
                bulk = session.bulk()
                counts = [await bulk.count_rows(t) for t in BackendSource(session, "s").tables()]
            batches = sum(-(-n // BATCH) for n in counts)
            # Exported batches + ledger rows run from 0 to 2 * batches (+ rows of a
            # refused batch, none here); the last kills land in the verify tail.
            targets = sorted(rng.sample(range(1, 2 * batches + 1), KILLS))
            kills = 0
            for target in targets:
                kills += await asyncio.to_thread(_run_until, src, dst, folder, target, rng)
            async with (
                helpers.opened("sqlite", src, schema=False) as source,
                helpers.opened("postgres", dst, schema=False) as target_session,
            ):
                summary = await migrate(
                    BackendSource(source, "kill-source"),
                    target_session,
                    folder,
                    batch_size=BATCH,
                    verify_against_source=False,
                )
                assert summary.verified is not None
                assert summary.ok, [str(d) for d in summary.verified.differences]
                assert summary.imported is not None
                for table, counts_ in summary.imported.tables.items():
                    assert counts_.adds_up, (table, counts_)
                    assert counts_.rejected == 0
                manifest = read_manifest(folder)
                assert manifest is not None
                assert manifest.complete
                ids = {b.batch_id(t.name) for t in manifest.tables for b in t.batches}
                assert len(ids) == batches
                assert await target_session.bulk().imported_batches() == ids
                assert kill.ledger_rows(dst.postgres_schema) == len(ids)
                for reference in (BackendSource(source, "src"), FolderSource(folder)):
                    report = await verify(reference, BackendSource(target_session, "dst"))
                    assert report.ok, [str(d) for d in report.differences]
            return kills

    kills = asyncio.run(main())
    print(f"migrate run killed {kills} times")
    # The last kill points may come after the child finished; most must land.
    assert kills >= KILLS - 2
