"""Crash safety: a writer process SIGKILLed at random points, twenty times.

Every write it acknowledged before the kill is present, nothing is duplicated and the
files pass ``PRAGMA integrity_check`` (synchronous=FULL, WAL).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from orcheo_storage.settings import StorageSettings
from orcheo_storage_sqlite.session import SqliteSession

KILLS = 20
WRITER = Path(__file__).with_name("crash_writer.py")


def _run_and_kill(folder: Path, rng: random.Random) -> list[str]:
    child = subprocess.Popen(
        [sys.executable, str(WRITER), str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert child.stdout is not None
    lines: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            lines.append(line.strip())
            if line.startswith("ready"):
                ready.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    assert ready.wait(60), "crash writer did not start"
    time.sleep(rng.uniform(0.02, 0.4))
    os.kill(child.pid, signal.SIGKILL)
    child.wait(30)
    reader.join(10)
    child.stdout.close()
    return [line for line in lines if line != "ready"]


@pytest.mark.slow
async def test_sigkilled_writer_loses_no_acknowledged_write(
    tmp_path: Path, settings: StorageSettings
) -> None:
    rng = random.Random(4)
    acked: list[str] = []
    for _ in range(KILLS):
        acked.extend(_run_and_kill(tmp_path, rng))
    versions = [int(a[2:]) for a in acked if a.startswith("v ")]
    steps = [int(a[2:]) for a in acked if a.startswith("s ")]
    markers = [a[2:] for a in acked if a.startswith("a ")]
    assert versions
    assert steps
    assert markers

    session = await SqliteSession.open(settings)
    try:
        workflow_id = await session.workflows().resolve_workflow_ref("crash")
        stored_versions = [v.version for v in await session.workflows().list_versions(workflow_id)]
        stored_steps = [s.index for s in await session.history().list_steps("crash", limit=10_000)]
        events = await session.service_tokens().list_audit_events(token_id="crash", limit=10_000)
    finally:
        await session.close()
    # Gapless and unique, and every acknowledged write is there.
    assert stored_versions == list(range(1, len(stored_versions) + 1))
    assert set(versions) <= set(stored_versions)
    assert stored_steps == list(range(len(stored_steps)))
    assert set(steps) <= set(stored_steps)
    counts = Counter(str(e.details["m"]) for e in events)
    assert all(c == 1 for c in counts.values())
    assert set(markers) <= set(counts)
    # An unacknowledged write may have committed just before the kill, but at most one
    # per kill and per kind.
    assert len(stored_versions) - len(versions) <= KILLS
    for name in ("workflows", "service_tokens"):
        with sqlite3.connect(tmp_path / f"{name}.sqlite") as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    print(
        f"crash: {KILLS} kills, {len(versions)} versions, {len(steps)} steps, {len(markers)} markers acknowledged"
    )
