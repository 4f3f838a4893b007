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
import uuid
from pathlib import Path
from typing import Any

import psycopg
from orcheo_storage.clock import utcnow
from orcheo_storage.jsoncodec import dumps
from orcheo_storage.rules.versions import new_version
from orcheo_storage.settings import StorageSettings
from orcheo_storage_postgres._db import configure_connection, connection_kwargs
from orcheo_storage_postgres.plugin import PostgresBackend
from orcheo_storage_postgres.session import PostgresSession
from orcheo_storage_postgres.stores import workflows as wf_sql
from orcheo_storage_postgres.stores._codecs import VERSIONS
from psycopg.types.json import Json
from psycopg_pool import AsyncConnectionPool

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
    """create_version's INSERT through the backend's Db with plain-side parameters."""
    db = session.workflows()._db
    graph = {"nodes": list(range(20)), "edges": [[i, i + 1] for i in range(19)]}
    template = VERSIONS.params(
        new_version(workflow_id=state["wf"], number=1, graph=graph, created_by="b", now=utcnow())
    )
    workflow_of = bench._Rotor(state["wfs"])

    async def op() -> Any:
        params = {
            **template,
            "workflow_id": workflow_of(),
            "id": uuid.uuid4(),
            "created_at": utcnow(),
            "graph": Json(graph, dumps),
        }
        return await db.one(wf_sql._INSERT_VERSION, params)

    return op


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--ops", default="", help="comma-separated subset of operations")
    args = parser.parse_args()
    base = StorageSettings(
        repository_backend="postgres",
        chatkit_backend="postgres",
        auth_service_token_backend="postgres",
        postgres_dsn=args.dsn,
        postgres_pool_min_size=4,
        postgres_pool_max_size=20,
    )
    with tempfile.TemporaryDirectory() as tmp:
        async with PostgresBackend().provision(base, Path(tmp)) as settings:
            session = await PostgresSession.open(settings)
            kwargs = {
                **connection_kwargs(settings),
                "options": f"-c search_path={settings.postgres_schema}",
            }
            pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
                settings.dsn(),
                kwargs=kwargs,
                connection_class=psycopg.AsyncConnection,
                min_size=4,
                max_size=20,
                configure=configure_connection,
                open=False,
            )
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
