"""Benchmark (by hand, not CI): legacy SQLite -> PostgreSQL with the migrate CLI, vs pgloader.

Each step runs as its own ``orcheo-storage migrate`` process so its wall time and peak
RSS (``wait4`` rusage) are its own; then ``migrate run`` does all three in one process
into another schema (what a cut-over runs). pgloader loads the same SQLite files into a
separate database in the same run. The load average is printed with every figure (the
machine may be shared). Usage::

    python benchmarks/migration_generate.py /tmp/bench-data --gigabytes 1.0
    ORCHEO_POSTGRES_DSN=postgresql://postgres@127.0.0.1:5432/postgres \\
    ORCHEO_VAULT_ENCRYPTION_KEY=bench python benchmarks/migration_bench.py /tmp/bench-data
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

CLI = str(Path(sys.executable).with_name("orcheo-storage"))
PSQL = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qAtc"]


TREE_RSS: dict[str, int] = {}


def _tree_rss_mb(root: int) -> int:
    """Resident MB of ``root`` and its children (``migrate run`` has a verify worker)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            if int(entry) != root and parent != root:
                continue
            with open(f"/proc/{entry}/statm") as statm:
                total += int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
    return total // (1024 * 1024)


def timed(args: list[str], log: Path, step: str = "") -> tuple[float, int]:
    """Run ``args``; return (seconds, peak RSS in MB). Raises on a non-zero exit.

    Peak RSS is ``wait4``'s: the largest single process of the tree. With ``step`` the
    summed RSS of the process and its children is also sampled (every 0.2 s) into
    ``TREE_RSS[step]``.
    """
    started = time.perf_counter()
    peak = [0]
    with log.open("ab") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.2):
                peak[0] = max(peak[0], _tree_rss_mb(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        if step:
            sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        done.set()
    seconds = time.perf_counter() - started
    if step:
        sampler.join()
        TREE_RSS[step] = peak[0]
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{args[:3]} failed, see {log}")
    return seconds, usage.ru_maxrss // 1024


def pgloader(data: Path, db: str, log: Path) -> tuple[float, int]:
    subprocess.run([*PSQL, f"DROP DATABASE IF EXISTS {db}"], check=True)
    subprocess.run([*PSQL, f"CREATE DATABASE {db}"], check=True)
    total, peak = 0.0, 0
    for name in ("workflows.sqlite", "chatkit.sqlite"):
        command = log.with_suffix(f".{name}.load")
        command.write_text(
            f"LOAD DATABASE FROM sqlite://{data / name}\n"
            f"INTO postgresql://postgres@127.0.0.1:5432/{db}\n"
            "WITH include drop, create tables, create indexes, reset sequences,\n"
            "     batch rows = 1000, prefetch rows = 1000;\n"
        )
        seconds, rss = timed(["pgloader", str(command)], log)
        total += seconds
        peak = max(peak, rss)
    return total, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", type=Path, help="folder with workflows.sqlite and chatkit.sqlite")
    parser.add_argument("--schema", default="bench_orcheo")
    parser.add_argument("--pgloader-db", default="bench_pgloader")
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--skip-pgloader", action="store_true")
    parser.add_argument("--skip-run", action="store_true", help="no one-process migrate run")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="orcheo-bench-"))
    folder, log = work / "export", work / "bench.log"
    source_bytes = sum(
        (args.data / n).stat().st_size for n in ("workflows.sqlite", "chatkit.sqlite")
    )
    subprocess.run([*PSQL, f"DROP SCHEMA IF EXISTS {args.schema} CASCADE"], check=True)
    subprocess.run([*PSQL, f"CREATE SCHEMA {args.schema}"], check=True)
    common = ["--from", "legacy", "--from-data-dir", str(args.data)]
    target = ["--to", "postgres", "--to-schema", args.schema]
    results: dict[str, Any] = {"source_bytes": source_bytes}
    load: dict[str, float] = {"start": os.getloadavg()[0]}
    results["export"] = timed(
        [CLI, "migrate", "export", *common, "--to", "postgres", "--folder", str(folder),
         "--batch-size", str(args.batch_size)], log)  # fmt: skip
    manifest = json.loads((folder / "manifest.json").read_text())
    rows = sum(t["rows"] for t in manifest["tables"])
    export_bytes = sum(b["bytes"] for t in manifest["tables"] for b in t["batches"])
    load["export"] = os.getloadavg()[0]
    results["import"] = timed([CLI, "migrate", "import", *target, "--folder", str(folder)], log)
    load["import"] = os.getloadavg()[0]
    results["verify"] = timed([CLI, "migrate", "verify", *target, "--folder", str(folder)], log)
    load["verify"] = os.getloadavg()[0]
    if not args.skip_run:
        # `migrate run` as one process (the default), then with its verify worker.
        for step, extra in (("run", []), ("run+worker", ["--verify-worker"])):
            run_schema = args.schema + "_run"
            subprocess.run([*PSQL, f"DROP SCHEMA IF EXISTS {run_schema} CASCADE"], check=True)
            subprocess.run([*PSQL, f"CREATE SCHEMA {run_schema}"], check=True)
            results[step] = timed(
                [CLI, "migrate", "run", *common, "--to", "postgres", "--to-schema", run_schema,
                 "--folder", str(work / f"{step}-export"), "--batch-size", str(args.batch_size),
                 *extra], log, step)  # fmt: skip
            load[step] = os.getloadavg()[0]
            subprocess.run([*PSQL, f"DROP SCHEMA IF EXISTS {run_schema} CASCADE"], check=True)
    if not args.skip_pgloader:
        results["pgloader"] = pgloader(args.data, args.pgloader_db, log)
        load["pgloader"] = os.getloadavg()[0]
    results.update(rows=rows, export_bytes=export_bytes)
    mb = 1024 * 1024
    print(
        f"source {source_bytes / mb:.0f} MB on disk, {rows} rows, {export_bytes / mb:.0f} MB of JSONL"
    )
    for step in ("export", "import", "verify", "run", "run+worker", "pgloader"):
        if step not in results:
            continue
        seconds, rss = results[step]
        print(
            f"{step:8s} {seconds:7.1f} s  {source_bytes / mb / seconds:6.1f} MB/s (source)  "
            f"{export_bytes / mb / seconds:6.1f} MB/s (JSON)  {rows / seconds:8.0f} rows/s  "
            f"peak RSS {rss} MB  load average {load[step]:.1f}"
        )
    for step in ("run", "run+worker"):
        if step in TREE_RSS:
            print(
                f"migrate {step}: peak RSS of the process and any worker together {TREE_RSS[step]} MB"
            )
    full = sum(results[s][0] for s in ("export", "import", "verify"))
    print(
        f"migrate total (export+import+verify) {full:.1f} s; load average at start {load['start']:.1f}"
    )
    print(json.dumps({**results, "load": load, "tree_rss": TREE_RSS}))
    shutil.rmtree(work)
    subprocess.run([*PSQL, f"DROP SCHEMA IF EXISTS {args.schema} CASCADE"], check=True)
    if not args.skip_pgloader:
        subprocess.run([*PSQL, f"DROP DATABASE IF EXISTS {args.pgloader_db}"], check=True)


if __name__ == "__main__":
    main()
