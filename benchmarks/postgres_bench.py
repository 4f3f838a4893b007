"""Load benchmark of the PostgreSQL backend against plain psycopg running the same SQL.

For each operation and concurrency level, N tasks loop for a fixed time through the
backend's store API, then through plain psycopg executing the same SQL statements on a
pool with the same settings (both measured in this run, alternating, so the noisy machine
affects both alike). Reports ops/s, p50/p95/p99 latency and backend/plain throughput.

Usage:
    .venv/bin/python benchmarks/postgres_bench.py [--dsn DSN] [--seconds 3]
        [--concurrency 1,100,200] [--json out.json]

Not a timed test: numbers depend on the machine; compare ratios within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from orcheo_storage.chatkit_types import ThreadMetadata
from orcheo_storage.clock import utcnow
from orcheo_storage.jsoncodec import dumps
from orcheo_storage.models.chat import ChatContext
from orcheo_storage.models.tokens import ServiceToken
from orcheo_storage.rules.versions import new_version
from orcheo_storage.settings import StorageSettings
from orcheo_storage_postgres._db import configure_connection, connection_kwargs
from orcheo_storage_postgres._rows import jsonb
from orcheo_storage_postgres.plugin import PostgresBackend
from orcheo_storage_postgres.session import PostgresSession
from orcheo_storage_postgres.stores import chat as chat_sql
from orcheo_storage_postgres.stores import history as history_sql
from orcheo_storage_postgres.stores import tokens as token_sql
from orcheo_storage_postgres.stores import workflows as wf_sql
from orcheo_storage_postgres.stores._codecs import VERSIONS
from psycopg.types.json import Json
from psycopg_pool import AsyncConnectionPool

PAYLOAD = {"data": "x" * 2000, "n": 1}  # ~2 KB step payload
Op = Callable[[], Awaitable[Any]]


def _user_item(thread_id: str) -> Any:
    from chatkit.types import InferenceOptions, UserMessageItem, UserMessageTextContent

    return UserMessageItem(
        id=f"msg_{uuid.uuid4().hex}",
        thread_id=thread_id,
        created_at=datetime.now(UTC),
        content=[UserMessageTextContent(text="hello benchmark")],
        inference_options=InferenceOptions(),
    )


async def _run(op: Op, tasks: int, seconds: float) -> dict[str, float]:
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
    elapsed = time.perf_counter() - began
    latencies.sort()
    if len(latencies) < 2:
        raise RuntimeError(f"operation failed ({errors} errors, {len(latencies)} successes)")
    q = statistics.quantiles(latencies, n=100)

    return {
        "ops": len(latencies) / elapsed,
        "p50_ms": q[49] * 1000,
        "p95_ms": q[94] * 1000,
        "p99_ms": q[98] * 1000,
        "errors": errors,
    }


def _combine(runs: list[dict[str, float]]) -> dict[str, float]:
    """Mean throughput and the median of each latency percentile over rounds."""
    return {
        "ops": statistics.fmean(r["ops"] for r in runs),
        **{k: statistics.median(r[k] for r in runs) for k in ("p50_ms", "p95_ms", "p99_ms")},
        "errors": sum(r["errors"] for r in runs),
    }


SPREAD = 50  # writes rotate over this many workflows / executions / threads


class _Rotor:
    """Round-robin over entities: concurrent writers hit different rows, as in production
    (every gapless counter serialises writers of one workflow / execution / thread)."""

    def __init__(self, items: list[Any]) -> None:
        self._items = items
        self._n = 0

    def __call__(self) -> Any:
        self._n += 1
        return self._items[self._n % len(self._items)]


async def _setup(session: PostgresSession) -> dict[str, Any]:
    repo = session.workflows()
    wf = await repo.create_workflow(name="bench", actor="bench")
    await repo.create_version(wf.id, graph={"nodes": list(range(20))}, created_by="bench")
    wfs = [wf.id] + [
        (await repo.create_workflow(name=f"bench{i}", actor="bench")).id for i in range(SPREAD - 1)
    ]
    for i in range(SPREAD):
        await session.history().start_run(execution_id=f"bench{i}", workflow_id=str(wf.id))
    secret_hash = hashlib.sha256(b"bench-token").hexdigest()
    await session.service_tokens().create(
        ServiceToken(identifier="bench", secret_hash=secret_hash, issued_at=utcnow())
    )
    ctx = ChatContext(workflow_id=str(wf.id))
    chat = session.chatkit()
    for i in range(250):
        await chat.save_thread(
            ThreadMetadata(id=f"thr_{i:04d}", created_at=datetime.now(UTC), title=f"t{i}"), ctx
        )
    return {
        "wf": wf.id,
        "hash": secret_hash,
        "ctx": ctx,
        "thread": "thr_0000",
        "wfs": wfs,
        "execs": [f"bench{i}" for i in range(SPREAD)],
        "threads": [f"thr_{i:04d}" for i in range(SPREAD)],
    }


def backend_ops(session: PostgresSession, s: dict[str, Any]) -> dict[str, Op]:
    repo, hist, tokens, chat = (
        session.workflows(),
        session.history(),
        session.service_tokens(),
        session.chatkit(),
    )
    graph = {"nodes": list(range(20)), "edges": [[i, i + 1] for i in range(19)]}
    wf_of, exec_of, thread_of = _Rotor(s["wfs"]), _Rotor(s["execs"]), _Rotor(s["threads"])

    async def add_item() -> None:
        thread = thread_of()
        await chat.add_thread_item(thread, _user_item(thread), s["ctx"])

    return {
        "get_workflow": lambda: repo.get_workflow(s["wf"]),
        "create_version": lambda: repo.create_version(wf_of(), graph=graph, created_by="bench"),
        "append_step_2kb": lambda: hist.append_step(exec_of(), PAYLOAD),
        "token_by_hash": lambda: tokens.get_by_hash(s["hash"]),
        "add_chat_item": add_item,
        "list_threads_page": lambda: chat.load_threads(20, "thr_0100", "asc", s["ctx"]),
    }


def _text(query: Any) -> str:
    """``query`` as the literal SQL text a hand-written application would carry."""
    return query if isinstance(query, str) else query.as_string(None)


def plain_version_params(s: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    """create_version's parameters as a hand-written app prepares them per call: a template
    built once, then a new id and time, the next workflow and the graph encoded as JSON."""
    graph = {"nodes": list(range(20)), "edges": [[i, i + 1] for i in range(19)]}
    template = VERSIONS.params(
        new_version(workflow_id=s["wf"], number=1, graph=graph, created_by="b", now=utcnow())
    )
    wf_of = _Rotor(s["wfs"])

    def params() -> dict[str, Any]:
        return {
            **template,
            "workflow_id": wf_of(),
            "id": uuid.uuid4(),
            "created_at": utcnow(),
            "graph": Json(graph, dumps),
        }

    return params


def bench_settings(dsn: str, pool_min: int = 4, pool_max: int = 20) -> StorageSettings:
    """Every benchmarked subsystem on PostgreSQL at ``dsn``, with these pool sizes."""
    return StorageSettings(
        repository_backend="postgres",
        chatkit_backend="postgres",
        auth_service_token_backend="postgres",
        postgres_dsn=dsn,
        postgres_pool_min_size=pool_min,
        postgres_pool_max_size=pool_max,
    )


def plain_pool(settings: StorageSettings) -> AsyncConnectionPool[Any]:
    """The plain psycopg pool (closed): same DSN, schema, pool sizes and connection settings
    as the backend's; no per-borrow check (what a hand-written app on psycopg_pool does by
    default). Unqualified statements: the schema is the connections' search_path."""
    return AsyncConnectionPool(
        settings.dsn(),
        kwargs={
            **connection_kwargs(settings),
            "options": f"-c search_path={settings.postgres_schema}",
        },
        connection_class=psycopg.AsyncConnection,
        min_size=settings.postgres_pool_min_size,
        max_size=settings.postgres_pool_max_size,
        timeout=settings.postgres_pool_timeout,
        max_idle=settings.postgres_pool_max_idle,
        max_waiting=settings.postgres_pool_max_waiting,
        configure=configure_connection,
        open=False,
    )


def plain_ops(pool: AsyncConnectionPool[Any], s: dict[str, Any]) -> dict[str, Op]:
    """The same SQL the backend sends (as literal text, unqualified: the plain pool's
    connections set ``search_path``), with parameters prepared the cheapest way."""
    get_sql, version_sql = _text(wf_sql._GET), _text(wf_sql._INSERT_VERSION)
    append_sql, by_hash_sql = _text(history_sql._APPEND), _text(token_sql._BY_HASH)
    version_params = plain_version_params(s)

    async def one(query: Any, params: Any) -> Any:
        async with pool.connection() as conn:
            cur = await conn.execute(query, params)
            return await cur.fetchone()

    exec_of, thread_of = _Rotor(s["execs"]), _Rotor(s["threads"])

    async def create_version() -> Any:
        return await one(version_sql, version_params())

    async def append_step() -> Any:
        return await one(
            append_sql, {"id": exec_of(), "at": utcnow(), "payload": Json(PAYLOAD, dumps)}
        )

    # The chat statements of the code under test: one statement each since issue 15
    # (before it: a visibility SELECT, the insert and the title UPDATE in a transaction;
    # a cursor lookup, then the page).
    add_checked = getattr(chat_sql, "_ADD_ITEM_CHECKED", None)
    page_after = getattr(chat_sql, "_THREAD_PAGE_AFTER", None)

    async def add_item() -> None:
        thread = thread_of()
        item = _user_item(thread)
        params = {
            "thread_id": thread,
            "id": item.id,
            "created_at": item.created_at,
            "item": jsonb(item.model_dump(mode="json")),
            "now": utcnow(),
        }
        if add_checked is not None:
            params.update(wf=str(s["wf"]), title="hello benchmark")
            row = await one(add_checked[True], params)
            assert row is not None
            return
        async with pool.connection() as conn, conn.transaction():
            await conn.execute(chat_sql._GET_THREAD, (thread,))
            await conn.execute(chat_sql._ADD_ITEM, params)
            await conn.execute(chat_sql._SET_TITLE_IF_EMPTY, ("hello", thread))

    async def list_threads() -> Any:
        params = {"n": 21, "wf": str(s["wf"]), "after": "thr_0100"}
        async with pool.connection() as conn:
            if page_after is not None:
                cur = await conn.execute(page_after[("asc", True)], params)
                return await cur.fetchall()
            cur = await conn.execute(chat_sql._CURSOR_THREAD, ("thr_0100",))
            row = await cur.fetchone()
            assert row is not None
            query = chat_sql._THREAD_PAGE[("asc", True, True)]
            cur = await conn.execute(query, {**params, "at": row["created_at"]})
            return await cur.fetchall()

    return {
        "get_workflow": lambda: one(get_sql, {"id": s["wf"]}),
        "create_version": create_version,
        "append_step_2kb": append_step,
        "token_by_hash": lambda: one(by_hash_sql, {"h": s["hash"]}),
        "add_chat_item": add_item,
        "list_threads_page": list_threads,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", default="1,100,200")
    parser.add_argument("--pool-min", type=int, default=4)
    parser.add_argument("--pool-max", type=int, default=20)
    parser.add_argument("--ops", default="", help="comma-separated subset of operations")
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs per cell")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    base = bench_settings(args.dsn, args.pool_min, args.pool_max)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        async with PostgresBackend().provision(base, Path(tmp)) as settings:
            session = await PostgresSession.open(settings)
            pool = plain_pool(settings)
            await pool.open(wait=True)
            try:
                state = await _setup(session)
                ours, plain = backend_ops(session, state), plain_ops(pool, state)
                wanted = [o for o in args.ops.split(",") if o] or list(ours)
                for tasks in (int(c) for c in args.concurrency.split(",")):
                    for name in wanted:
                        # Alternate backend and plain so drifting machine load hits both.
                        bs, ps = [], []
                        for _ in range(args.rounds):
                            bs.append(await _run(ours[name], tasks, args.seconds))
                            ps.append(await _run(plain[name], tasks, args.seconds))
                        b, p = _combine(bs), _combine(ps)
                        row = {
                            "op": name,
                            "tasks": tasks,
                            "backend": b,
                            "plain": p,
                            "ratio": b["ops"] / p["ops"] if p["ops"] else 0.0,
                        }
                        results.append(row)
                        print(
                            f"{name:18} {tasks:4d} tasks  backend {b['ops']:7.0f} ops/s "
                            f"p50 {b['p50_ms']:6.1f} p95 {b['p95_ms']:6.1f} p99 {b['p99_ms']:6.1f} ms"
                            f" | plain {p['ops']:7.0f} ops/s p95 {p['p95_ms']:6.1f} ms"
                            f" | ratio {row['ratio']:.2f}",
                            flush=True,
                        )
            finally:
                await pool.close()
                await session.close()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(markdown(results))


def markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "| operation | tasks | backend ops/s | p50 ms | p95 ms | p99 ms | plain ops/s | plain p95 ms | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        b, p = r["backend"], r["plain"]
        lines.append(
            f"| {r['op']} | {r['tasks']} | {b['ops']:.0f} | {b['p50_ms']:.1f} | {b['p95_ms']:.1f} "
            f"| {b['p99_ms']:.1f} | {p['ops']:.0f} | {p['p95_ms']:.1f} | {r['ratio']:.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    asyncio.run(main())
