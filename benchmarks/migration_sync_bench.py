"""Benchmark (by hand, not CI): cut-over with an incremental sync, writes going on meanwhile.

Steps, each its own ``orcheo-storage`` process (wall time, peak RSS from ``wait4``):

1. a writer process starts changing today's files (inserts, updates, deletes in run
   history and chat, ``--writes-per-second``), as the live Orcheo would;
2. ``migrate run`` copies everything while the writer goes on (the *pre-copy*);
3. ``migrate sync`` catches up while the writer still goes on;
4. the writer stops (**writes frozen, downtime starts**), ``migrate sync`` moves the rest
   and checks it (**downtime ends**): that last step is the cut-over's write downtime.

Usage::

    python benchmarks/migration_generate.py /tmp/mig/big --gigabytes 1.05
    ORCHEO_POSTGRES_DSN=postgresql://postgres@127.0.0.1:5432/postgres ORCHEO_VAULT_ENCRYPTION_KEY=bench \\
      .venv/bin/python benchmarks/migration_sync_bench.py /tmp/mig/big
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CLI = str(Path(sys.executable).with_name("orcheo-storage"))
PSQL = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qAtc"]


def timed(args: list[str], log: Path, allowed: tuple[int, ...] = (0,)) -> tuple[float, int, str]:
    """Run ``args``; return (seconds, peak RSS in MB, stdout). Raises on another exit code."""
    started = time.perf_counter()
    out_path = log.with_suffix(f".{len(list(log.parent.iterdir()))}.out")
    with log.open("ab") as err, out_path.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) not in allowed:
        raise SystemExit(f"{args[:3]} failed, see {log} and {out_path}")
    return seconds, usage.ru_maxrss // 1024, out_path.read_text()


def writer(data: Path, rate: float, stop_file: Path) -> None:
    """Today's Orcheo at work: new runs with steps, edited steps, new and deleted chat items."""
    rng = random.Random(11)
    repo = sqlite3.connect(data / "workflows.sqlite", timeout=30)
    chat = sqlite3.connect(data / "chatkit.sqlite", timeout=30)
    max_step = repo.execute("SELECT max(rowid) FROM execution_history_steps").fetchone()[0]
    max_msg = chat.execute("SELECT max(rowid) FROM chat_messages").fetchone()[0]
    n = 0
    started = time.perf_counter()
    while not stop_file.exists():
        n += 1
        at = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
        exec_id = f"live-{n:08d}"
        repo.execute(
            "INSERT INTO execution_history (execution_id, workflow_id, inputs, runnable_config, "
            "tags, callbacks, metadata, status, started_at) VALUES (?, 'live-wf', '{}', '{}', '[]', "
            "'[]', '{}', 'running', ?)",
            (exec_id, at),
        )
        payload = json.dumps({"node": "agent", "text": "x" * rng.randint(500, 4000)})
        repo.execute(
            "INSERT INTO execution_history_steps VALUES (?, 0, ?, ?)", (exec_id, at, payload)
        )
        repo.execute(
            "UPDATE execution_history_steps SET payload = json_set(payload, '$.edited', ?) "
            "WHERE rowid = ?",
            (n, rng.randint(1, max_step)),
        )
        repo.commit()
        if n % 4 == 0:
            chat.execute("DELETE FROM chat_messages WHERE rowid = ?", (rng.randint(1, max_msg),))
            chat.commit()
        delay = started + n / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    repo.close()
    chat.close()
    (stop_file.with_suffix(".count")).write_text(str(n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", type=Path, help="folder with workflows.sqlite and chatkit.sqlite")
    parser.add_argument("--schema", default="bench_sync")
    parser.add_argument("--writes-per-second", type=float, default=20.0)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--writer", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--stop-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer:
        writer(args.data, args.writes_per_second, args.stop_file)
        return
    work = Path(tempfile.mkdtemp(prefix="orcheo-sync-bench-"))
    live, folder, log = work / "live", work / "export", work / "logs" / "bench.log"
    log.parent.mkdir()
    shutil.copytree(args.data, live)
    source_bytes = sum(p.stat().st_size for p in live.glob("*.sqlite"))
    subprocess.run([*PSQL, f"DROP SCHEMA IF EXISTS {args.schema} CASCADE"], check=True)
    subprocess.run([*PSQL, f"CREATE SCHEMA {args.schema}"], check=True)
    ends = ["--from", "legacy", "--from-data-dir", str(live), "--to", "postgres"]
    ends += ["--to-schema", args.schema, "--folder", str(folder)]
    stop = work / "stop"
    write_proc = subprocess.Popen(
        [sys.executable, __file__, str(live), "--writer", "--stop-file", str(stop),
         "--writes-per-second", str(args.writes_per_second)]
    )  # fmt: skip
    results: dict[str, Any] = {"source_bytes": source_bytes, "rate": args.writes_per_second}
    try:
        pre = timed([CLI, "migrate", "run", *ends, "--batch-size", str(args.batch_size)], log)
        results["pre-copy (live)"] = pre[:2]
        # While writes go on, the catch-up's counts check may see rows newer than its scan
        # (exit 1); the final sync, with writes frozen, must exit 0.
        catch = timed([CLI, "migrate", "sync", *ends, "--json"], log, allowed=(0, 1))
        results["catch-up sync (live)"] = catch[:2]
        results["catch-up detail"] = json.loads(catch[2])
    finally:
        stop.touch()  # writes frozen: downtime starts
        write_proc.wait(timeout=60)
        if write_proc.returncode is None:
            write_proc.send_signal(signal.SIGKILL)
    final = timed([CLI, "migrate", "sync", *ends, "--json"], log)
    results["final sync (downtime)"] = final[:2]
    results["final detail"] = json.loads(final[2])
    results["writer iterations"] = int(stop.with_suffix(".count").read_text())
    mb = 1024 * 1024
    print(f"source {source_bytes / mb:.0f} MB, writer {args.writes_per_second}/s")
    for step in ("pre-copy (live)", "catch-up sync (live)", "final sync (downtime)"):
        seconds, rss = results[step]
        print(f"{step:24s} {seconds:7.1f} s  peak RSS {rss} MB")
    for name in ("catch-up detail", "final detail"):
        detail = results[name]
        print(
            f"{name}: ok={detail['ok']} changed rows {detail['changed_rows']} "
            f"seconds {json.dumps({k: round(v, 2) for k, v in detail['seconds'].items()})}"
        )
    print(json.dumps(results))
    shutil.rmtree(work)
    subprocess.run([*PSQL, f"DROP SCHEMA IF EXISTS {args.schema} CASCADE"], check=True)


if __name__ == "__main__":
    main()
