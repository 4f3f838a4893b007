"""Scale-out benchmark: N application processes on one PostgreSQL, each with its own pool.

For each process count (default 1, 2, 4) and operation, N processes start together (a
barrier after their pools are open and warm) and each runs ``--tasks`` asyncio tasks that
loop over the operation for ``--seconds``. Every process has a pool of its own: a backend
session (``PostgresSession``), or, measured in the same run as the baseline, a plain
psycopg pool with the same settings (same DSN, sizes, timeouts, autocommit, prepare
threshold, core JSON codec; no per-borrow check) sending the same SQL as literal,
schema-qualified text. Backend and plain alternate per round so drifting machine load hits
both. Aggregate throughput is the sum of the processes' own; p95 is over every operation
of every process (including waits for a pooled connection).

Operations: ``read`` (get_workflow by id) and ``write`` (append_step_2kb; each process
rotates over executions of its own, so processes do not queue on one row lock).

With ``--pgbouncer`` the same runs are repeated through a throwaway PgBouncer in
transaction mode (``orcheo_storage_postgres.testing_pgbouncer``; prepared statements off).

Usage:
    uv run --no-sync python benchmarks/multiprocess_bench.py [--dsn DSN]
        [--processes 1,2,4] [--tasks 100] [--seconds 3] [--rounds 2] [--pgbouncer]
        [--json out.json]

Not a timed test: numbers depend on the machine (and on everything else running on it);
compare ratios within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

PAYLOAD = {"data": "x" * 2000, "n": 1}  # ~2 KB step payload
SPREAD = 50  # executions per process for writes
OPS = ("read", "write")
Op = Callable[[], Awaitable[Any]]


@dataclass(frozen=True)
class Job:
    """What one worker process runs (plain data: it crosses a process boundary)."""

    kind: str  # "backend" or "plain"
    op: str
    dsn: str
    schema: str
    prepare_threshold: int | None
    pool_min: int
    pool_max: int
    tasks: int
    seconds: float
    index: int
    workflow_id: str


def _settings(job: Job) -> Any:
    from orcheo_storage.settings import StorageSettings

    return StorageSettings(
        repository_backend="postgres",
        chatkit_backend="postgres",
        auth_service_token_backend="postgres",
        postgres_dsn=job.dsn,
        postgres_schema=job.schema,
        postgres_pool_min_size=job.pool_min,
        postgres_pool_max_size=job.pool_max,
        postgres_prepare_threshold=job.prepare_threshold,
    )


def _execs(index: int) -> list[str]:
    return [f"mp{index}_{i}" for i in range(SPREAD)]


class _Rotor:
    def __init__(self, items: list[Any]) -> None:
        self._items, self._n = items, 0

    def __call__(self) -> Any:
        self._n += 1
        return self._items[self._n % len(self._items)]


async def _backend_op(job: Job) -> tuple[Op, Callable[[], Awaitable[None]]]:
    from orcheo_storage_postgres.session import PostgresSession

    session = await PostgresSession.open(_settings(job))
    wf, exec_of = UUID(job.workflow_id), _Rotor(_execs(job.index))
    if job.op == "read":

        async def op() -> Any:
            return await session.workflows().get_workflow(wf)
    else:

        async def op() -> Any:
            return await session.history().append_step(exec_of(), PAYLOAD)

    return op, session.close


async def _plain_op(job: Job) -> tuple[Op, Callable[[], Awaitable[None]]]:
    import psycopg
    from orcheo_storage.clock import utcnow
    from orcheo_storage.jsoncodec import dumps
    from orcheo_storage_postgres._db import CATALOGUE, configure_connection, connection_kwargs
    from orcheo_storage_postgres._qualify import Qualifier
    from orcheo_storage_postgres.stores import history as history_sql
    from orcheo_storage_postgres.stores import workflows as wf_sql
    from psycopg.types.json import Json
    from psycopg_pool import AsyncConnectionPool

    settings = _settings(job)
    qualify = Qualifier(job.schema, CATALOGUE).rewrite

    def text(query: Any) -> str:  # the literal, schema-qualified SQL of a hand-written app
        return qualify(query if isinstance(query, str) else query.as_string(None))

    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        settings.dsn(),
        kwargs=connection_kwargs(settings),
        connection_class=psycopg.AsyncConnection,
        min_size=settings.postgres_pool_min_size,
        max_size=settings.postgres_pool_max_size,
        timeout=settings.postgres_pool_timeout,
        max_idle=settings.postgres_pool_max_idle,
        max_waiting=settings.postgres_pool_max_waiting,
        configure=configure_connection,
        open=False,
    )
    await pool.open(wait=True, timeout=settings.postgres_pool_timeout)
    wf, exec_of = UUID(job.workflow_id), _Rotor(_execs(job.index))
    get_sql, append_sql = text(wf_sql._GET), text(history_sql._APPEND)

    async def one(query: str, params: Any) -> Any:
        async with pool.connection() as conn:
            cur = await conn.execute(query, params)
            return await cur.fetchone()

    if job.op == "read":

        async def op() -> Any:
            return await one(get_sql, {"id": wf})
    else:

        async def op() -> Any:
            params = {"id": exec_of(), "at": utcnow(), "payload": Json(PAYLOAD, dumps)}
            return await one(append_sql, params)

    return op, pool.close


async def _loop(op: Op, tasks: int, seconds: float) -> tuple[int, float, list[float], int]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                await op()
            except Exception:
                errors += 1
                continue
            latencies.append(time.perf_counter() - start)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    return len(latencies), time.perf_counter() - began, latencies, errors


async def _work(job: Job, barrier: Any) -> dict[str, Any]:
    make = _backend_op if job.kind == "backend" else _plain_op
    op, close = await make(job)
    try:
        await _loop(op, job.tasks, 0.3)  # warm: pool filled, statements prepared
        await asyncio.to_thread(barrier.wait)
        count, elapsed, latencies, errors = await _loop(op, job.tasks, job.seconds)
    finally:
        await close()
    return {"count": count, "elapsed": elapsed, "latencies": latencies, "errors": errors}


def _process(job: Job, barrier: Any, results: Any) -> None:
    try:
        results.put((job.index, asyncio.run(_work(job, barrier))))
    except BaseException as exc:  # reported to the parent, which fails the run
        barrier.abort()
        results.put((job.index, {"failed": f"{type(exc).__name__}: {exc}"}))


def run_cell(jobs: list[Job]) -> dict[str, float]:
    """Run ``jobs`` (one per process) together; aggregate ops/s and latency percentiles."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(len(jobs)), ctx.Queue()
    procs = [ctx.Process(target=_process, args=(job, barrier, results)) for job in jobs]
    for p in procs:
        p.start()
    outs = [results.get(timeout=60 + 2 * jobs[0].seconds) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    failed = [o["failed"] for _, o in outs if "failed" in o]
    if failed:
        raise RuntimeError(f"worker failed: {failed[0]}")
    latencies = sorted(lat for _, o in outs for lat in o["latencies"])
    q = statistics.quantiles(latencies, n=100)
    return {
        "ops": sum(o["count"] / o["elapsed"] for _, o in outs),
        "p50_ms": q[49] * 1000,
        "p95_ms": q[94] * 1000,
        "p99_ms": q[98] * 1000,
        "errors": sum(o["errors"] for _, o in outs),
    }


def _combine(runs: list[dict[str, float]]) -> dict[str, float]:
    return {
        "ops": statistics.fmean(r["ops"] for r in runs),
        **{k: statistics.median(r[k] for r in runs) for k in ("p50_ms", "p95_ms", "p99_ms")},
        "errors": sum(r["errors"] for r in runs),
    }


async def _setup(settings: Any, processes: int) -> str:
    from orcheo_storage_postgres.session import PostgresSession

    session = await PostgresSession.open(settings)
    try:
        wf = await session.workflows().create_workflow(name="mp-bench", actor="bench")
        for index in range(processes):
            for execution in _execs(index):
                await session.history().start_run(execution_id=execution, workflow_id=str(wf.id))
        return str(wf.id)
    finally:
        await session.close()


def measure(
    args: argparse.Namespace, mode: str, dsn: str, schema: str, wf: str
) -> list[dict[str, Any]]:
    counts = [int(c) for c in args.processes.split(",")]
    prepare = None if mode == "pgbouncer" else 5
    rows: list[dict[str, Any]] = []
    for op in [o for o in args.ops.split(",") if o]:
        for n in counts:
            cells: dict[str, list[dict[str, float]]] = {"backend": [], "plain": []}
            for _ in range(args.rounds):
                for kind in ("backend", "plain"):
                    jobs = [
                        Job(kind, op, dsn, schema, prepare, args.pool_min, args.pool_max,
                            args.tasks, args.seconds, i, wf)
                        for i in range(n)
                    ]  # fmt: skip
                    cells[kind].append(run_cell(jobs))
            b, p = _combine(cells["backend"]), _combine(cells["plain"])
            row = {"mode": mode, "op": op, "processes": n, "backend": b, "plain": p}
            rows.append(row)
            print(
                f"{mode:9} {op:5} x{n} procs  backend {b['ops']:7.0f} ops/s p95 {b['p95_ms']:6.1f} ms"
                f" | plain {p['ops']:7.0f} ops/s p95 {p['p95_ms']:6.1f} ms"
                f" | ratio {b['ops'] / p['ops']:.2f} | errors {b['errors']}/{p['errors']}",
                flush=True,
            )
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    """Table with scaling against the same mode/op/kind at the smallest process count."""
    lines = [
        "| mode | op | procs | backend ops/s | x vs 1 | p95 ms | plain ops/s | x vs 1 | plain p95 ms | backend/plain |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    base: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        first = base.setdefault((r["mode"], r["op"]), r)
        b, p = r["backend"], r["plain"]
        lines.append(
            f"| {r['mode']} | {r['op']} | {r['processes']} | {b['ops']:.0f} "
            f"| {b['ops'] / first['backend']['ops']:.2f} | {b['p95_ms']:.1f} | {p['ops']:.0f} "
            f"| {p['ops'] / first['plain']['ops']:.2f} | {p['p95_ms']:.1f} "
            f"| {b['ops'] / p['ops']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--processes", default="1,2,4")
    parser.add_argument("--tasks", type=int, default=100, help="asyncio tasks per process")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs per cell")
    parser.add_argument("--pool-min", type=int, default=4)
    parser.add_argument("--pool-max", type=int, default=20)
    parser.add_argument("--ops", default=",".join(OPS))
    parser.add_argument("--pgbouncer", action="store_true", help="also run through PgBouncer")
    parser.add_argument(
        "--no-direct", action="store_true", help="skip the direct runs (with --pgbouncer)"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    rows = asyncio.run(_main(args))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    print(markdown(rows))


async def _main(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Provision a schema, set up the data, measure directly and (optionally) via PgBouncer."""
    from orcheo_storage.settings import StorageSettings
    from orcheo_storage_postgres.plugin import PostgresBackend

    base = StorageSettings(
        repository_backend="postgres",
        chatkit_backend="postgres",
        auth_service_token_backend="postgres",
        postgres_dsn=args.dsn,
    )
    most = max(int(c) for c in args.processes.split(","))
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        async with PostgresBackend().provision(base, Path(tmp)) as settings:
            schema = settings.postgres_schema
            assert schema is not None
            wf = await _setup(settings, most)
            if not args.no_direct:
                rows += await asyncio.to_thread(measure, args, "direct", args.dsn, schema, wf)
            if args.pgbouncer:
                from orcheo_storage_postgres import testing_pgbouncer

                bouncer = await asyncio.to_thread(testing_pgbouncer.start, args.dsn)
                try:
                    rows += await asyncio.to_thread(
                        measure, args, "pgbouncer", bouncer.dsn(), schema, wf
                    )
                finally:
                    bouncer.stop()
    return rows


if __name__ == "__main__":
    main()
