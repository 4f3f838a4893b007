"""Client CPU per operation: the PostgreSQL backend against plain psycopg, same SQL.

At 100 tasks on a 2-core machine the client process is the bottleneck (one core of Python,
the server on the other), so the backend/plain throughput ratio of ``postgres_bench.py``
follows the client CPU each operation costs. This measures that directly: for each
operation, N tasks loop for ``--seconds`` through the backend, then through plain psycopg
(the operations and setup of ``postgres_bench.py``), and the process CPU time
(``time.process_time``) is divided by the operations done. Alternating rounds; the
difference (``cpu+``) is what the backend adds per operation, in microseconds.

One extra operation splits create_version: ``create_version_sql`` sends the plain side's
prepared parameters through the backend's own database path (``Db.one``: its pool borrow,
liveness check, rendered statements, error translation) and skips the domain work (building
and validating the version, checksum, audit entry). Its ratio is the backend's database
path against plain psycopg; the rest of create_version's gap is the domain work.

Usage:
    .venv/bin/python benchmarks/postgres_cpu.py [--dsn DSN] [--tasks 100] [--seconds 2]
        [--rounds 2] [--ops get_workflow,create_version]

Not a timed test: numbers depend on the machine; compare within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from orcheo_storage_postgres.plugin import PostgresBackend
from orcheo_storage_postgres.session import PostgresSession
from orcheo_storage_postgres.stores import workflows as wf_sql

sys.path.insert(0, str(Path(__file__).parent))
import postgres_bench as bench


async def _measure(op: bench.Op, tasks: int, seconds: float) -> tuple[float, float]:
    """(client CPU microseconds per operation, operations per second)."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await op()
            done += 1

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu / done * 1e6, done / wall


def _sql_only(session: PostgresSession, state: dict[str, Any]) -> bench.Op:
    """create_version's INSERT through the backend's Db with the plain side's parameters."""
    db = session.workflows()._db
    params = bench.plain_version_params(state)
    return lambda: db.one(wf_sql._INSERT_VERSION, params())


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--ops", default="", help="comma-separated subset of operations")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        async with PostgresBackend().provision(
            bench.bench_settings(args.dsn), Path(tmp)
        ) as settings:
            session = await PostgresSession.open(settings)
            pool = bench.plain_pool(settings)
            await pool.open(wait=True)
            try:
                state = await bench._setup(session)
                ours, plain = bench.backend_ops(session, state), bench.plain_ops(pool, state)
                ours["create_version_sql"] = _sql_only(session, state)
                plain["create_version_sql"] = plain["create_version"]
                for name in [o for o in args.ops.split(",") if o] or list(ours):
                    for _ in range(args.rounds):
                        b_cpu, b_ops = await _measure(ours[name], args.tasks, args.seconds)
                        p_cpu, p_ops = await _measure(plain[name], args.tasks, args.seconds)
                        print(
                            f"{name:18} {args.tasks:4d} tasks  backend {b_cpu:6.1f} us/op "
                            f"{b_ops:6.0f}/s | plain {p_cpu:6.1f} us/op {p_ops:6.0f}/s | "
                            f"cpu+ {b_cpu - p_cpu:5.1f} us | ratio {b_ops / p_ops:.2f}",
                            flush=True,
                        )
            finally:
                await pool.close()
                await session.close()


if __name__ == "__main__":
    asyncio.run(main())
