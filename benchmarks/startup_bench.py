"""Start-up benchmark: wall time of fresh processes (not a timed test).

Each case runs ``--runs`` times (default 10) as a fresh subprocess of this interpreter's
environment, after one unmeasured warm-up run (so the file cache is warm for every case
alike), and reports min / median / max wall time in milliseconds:

* ``backends``: the ``orcheo-storage backends`` command (console script of this venv);
* ``import``: ``python -c "import orcheo_storage"``;
* ``open+read``: ``import orcheo_storage``, ``open_storage`` with every subsystem on
  ``sqlite`` in a temporary folder (schema created on the warm-up run), and one read
  (``workflows.list_workflows()``).

Also prints the load average (``os.getloadavg``) before and after, since the machines are
shared. Targets (issue 15): ``backends`` median < 500 ms, ``import`` median < 150 ms.

Usage:
    .venv/bin/python benchmarks/startup_bench.py [--runs 10] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OPEN_AND_READ = """
import asyncio, sys
from pathlib import Path
import orcheo_storage
from orcheo_storage import load_settings, open_storage

folder = Path(sys.argv[1])

async def main():
    settings = load_settings(
        repository_backend="sqlite", chatkit_backend="sqlite", vault_backend="sqlite",
        auth_service_token_backend="sqlite", checkpoint_backend="sqlite",
        repository_sqlite_path=folder / "workflows.sqlite",
        chatkit_sqlite_path=folder / "chatkit.sqlite",
        vault_local_path=folder / "vault.sqlite",
        auth_service_token_db_path=folder / "service_tokens.sqlite",
        vault_encryption_key="startup-bench-key",
    )
    async with open_storage(settings) as storage:
        await storage.workflows.list_workflows()

asyncio.run(main())
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCHEO_")}
    env["PYTHONDONTWRITEBYTECODE"] = "0"
    return env


def _time(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{argv!r} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    python = sys.executable
    script = Path(python).with_name("orcheo-storage")
    if not script.exists():
        raise SystemExit(f"console script not found next to the interpreter: {script}")
    env = _env()
    with tempfile.TemporaryDirectory(prefix="startup-bench-") as folder:
        cases = {
            "backends": [str(script), "backends"],
            "import": [python, "-c", "import orcheo_storage"],
            "open+read": [python, "-c", OPEN_AND_READ, folder],
        }
        load_before = os.getloadavg()
        results: dict[str, dict[str, float]] = {}
        for name, argv in cases.items():
            _time(argv, env)  # warm-up (file cache, bytecode, schema creation)
            samples = [_time(argv, env) * 1000 for _ in range(args.runs)]
            results[name] = {
                "min_ms": min(samples),
                "median_ms": statistics.median(samples),
                "max_ms": max(samples),
                "runs": len(samples),
            }
        load_after = os.getloadavg()

    print(f"python {sys.version.split()[0]}, {args.runs} runs per case (after 1 warm-up)")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}")
    print(f"load average after:  {' '.join(f'{x:.2f}' for x in load_after)}")
    print(f"{'case':<10} {'min ms':>8} {'median ms':>10} {'max ms':>8}")
    for name, row in results.items():
        print(f"{name:<10} {row['min_ms']:>8.0f} {row['median_ms']:>10.0f} {row['max_ms']:>8.0f}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"results": results, "load_before": load_before, "load_after": load_after},
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
