"""Load benchmark of the SQLite backend against plain aiosqlite running the same SQL.

For each operation and concurrency level, N tasks loop for a fixed time through the
backend's store API, then through plain aiosqlite executing the same SQL statements on
the same files (one writer connection guarded by an asyncio lock so transactions do not
interleave, one reader connection; WAL and the same ``synchronous``). Both are measured
in this run, alternating, so the noisy machine affects both alike. Reports ops/s,
p50/p95/p99 latency and the backend/plain throughput ratio (target >= 0.70).

Usage:
    .venv/bin/python benchmarks/sqlite_bench.py [--seconds 2] [--concurrency 1,100]
        [--rounds 2] [--synchronous FULL] [--json out.json]

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
from pathlib import Path
from typing import Any

import aiosqlite
from chatkit.types import (
    InferenceOptions,
    ThreadMetadata,
    UserMessageItem,
    UserMessageTextContent,
)
from orcheo_storage.clock import utcnow
from orcheo_storage.jsoncodec import dumps
from orcheo_storage.models.chat import ChatContext
from orcheo_storage.models.tokens import ServiceToken
from orcheo_storage.settings import StorageSettings
from orcheo_storage_sqlite.chat import SqliteChatStore  # imports chatkit quietly
from orcheo_storage_sqlite.codec import ts
from orcheo_storage_sqlite.session import SqliteSession
from orcheo_storage_sqlite.tables import TOKENS, VERSIONS, WORKFLOWS

from orcheo_storage_sqlite import chat_sql

PAYLOAD = {"data": "x" * 2000, "n": 1}  # ~2 KB step payload
GRAPH = {"nodes": [{"id": f"n{i}", "type": "llm"} for i in range(10)], "edges": []}
Op = Callable[[], Awaitable[Any]]


def _item(thread_id: str) -> UserMessageItem:
    return UserMessageItem(
        id=f"msg_{uuid.uuid4().hex}",
        thread_id=thread_id,
        created_at=utcnow(),
        content=[UserMessageTextContent(text="hello benchmark")],
        inference_options=InferenceOptions(),
    )


async def _drive(op: Op, tasks: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await op()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {
        "ops_s": len(latencies) / elapsed,
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "n": len(latencies),
    }


class Plain:
    """aiosqlite doing what the backend does, statement for statement."""

    def __init__(self, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self.writer = writer
        self.reader = reader
        self.lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path, synchronous: str) -> Plain:
        conns = []
        for _ in range(2):
            conn = await aiosqlite.connect(path, isolation_level=None)
            await conn.execute("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA foreign_keys = ON")
            await conn.execute("PRAGMA busy_timeout = 30000")
            await conn.execute(f"PRAGMA synchronous = {synchronous}")
            conns.append(conn)
        return cls(conns[0], conns[1])

    async def close(self) -> None:
        await self.writer.close()
        await self.reader.close()

    async def read_one(self, sql: str, args: tuple[Any, ...]) -> Any:
        async with self.reader.execute(sql, args) as cursor:
            return await cursor.fetchone()

    async def transaction(self, steps: Callable[[aiosqlite.Connection], Awaitable[None]]) -> None:
        async with self.lock:
            await self.writer.execute("BEGIN IMMEDIATE")
            try:
                await steps(self.writer)
                await self.writer.execute("COMMIT")
            except BaseException:
                await self.writer.execute("ROLLBACK")
                raise


async def _ops(session: SqliteSession, plains: dict[str, Plain]) -> dict[str, tuple[Op, Op]]:
    plain = plains["repository"]
    workflows = session.workflows()
    history = session.history()
    tokens = session.service_tokens()
    chat: SqliteChatStore = session.chatkit()
    ctx = ChatContext()
    workflow = await workflows.create_workflow(name="bench", actor="bench", tags=["a", "b"])
    await history.start_run(execution_id="bench-backend", workflow_id=str(workflow.id))
    await history.start_run(execution_id="bench-plain", workflow_id=str(workflow.id))
    secret_hash = hashlib.sha256(b"bench").hexdigest()
    await tokens.create(
        ServiceToken(identifier="bench", secret_hash=secret_hash, scopes=["x"], issued_at=utcnow())
    )
    for tid in ("thr-backend", "thr-plain"):
        await chat.save_thread(ThreadMetadata(id=tid, created_at=utcnow()), ctx)
    wid = str(workflow.id)
    plain_wid_row = f"{WORKFLOWS.select} WHERE id = ?"
    token_sql = f"{TOKENS.select} WHERE secret_hash = ?"
    graph_text = dumps(GRAPH)
    payload_text = dumps(PAYLOAD)

    async def plain_version() -> None:
        async def steps(conn: aiosqlite.Connection) -> None:
            async with conn.execute("SELECT id FROM workflows WHERE id = ?", (wid,)) as c:
                await c.fetchone()
            async with conn.execute(
                "SELECT ifnull(max(version), 0) + 1 FROM workflow_versions WHERE workflow_id = ?",
                (wid,),
            ) as c:
                (number,) = await c.fetchone()  # type: ignore[misc]
            now = ts(utcnow())
            await conn.execute(
                VERSIONS.insert,
                (
                    str(uuid.uuid4()),
                    wid,
                    number,
                    graph_text,
                    "{}",
                    None,
                    None,
                    "b",
                    now,
                    "x",
                    "[]",
                    None,
                    now,
                ),
            )

        await plain.transaction(steps)

    async def plain_step() -> None:
        async def steps(conn: aiosqlite.Connection) -> None:
            now = ts(utcnow())
            async with conn.execute(
                "UPDATE run_histories SET step_count = step_count + 1, trace_last_span_at = ? "
                "WHERE execution_id = ? RETURNING step_count - 1",
                (now, "bench-plain"),
            ) as c:
                (index,) = await c.fetchone()  # type: ignore[misc]
            await conn.execute(
                "INSERT INTO run_history_steps (execution_id, step_index, at, payload) "
                "VALUES (?, ?, ?, ?)",
                ("bench-plain", index, now, payload_text),
            )

        await plain.transaction(steps)

    async def plain_item() -> None:
        item = _item("thr-plain")
        text = item.model_dump_json()

        async def steps(conn: aiosqlite.Connection) -> None:
            async with conn.execute(chat_sql.THREAD, ("thr-plain",)) as c:
                await c.fetchone()
            async with conn.execute(chat_sql.ITEM_EXISTS, (item.id,)) as c:
                await c.fetchone()
            async with conn.execute(chat_sql.NEXT_ORDINAL, ("thr-plain",)) as c:
                (ordinal,) = await c.fetchone()  # type: ignore[misc]
            now = ts(utcnow())
            await conn.execute(
                chat_sql.INSERT_ITEM, (item.id, "thr-plain", ordinal, now, text, "hello")
            )
            await conn.execute(chat_sql.TOUCH, (now, "hello", "thr-plain"))

        await plains["chat"].transaction(steps)

    return {
        "get workflow": (
            lambda: workflows.get_workflow(workflow.id),
            lambda: plain.read_one(plain_wid_row, (wid,)),
        ),
        "create version": (
            lambda: workflows.create_version(workflow.id, graph=GRAPH, created_by="b"),
            plain_version,
        ),
        "append history step": (
            lambda: history.append_step("bench-backend", PAYLOAD),
            plain_step,
        ),
        "token lookup by hash": (
            lambda: tokens.get_by_hash(secret_hash),
            lambda: plains["tokens"].read_one(token_sql, (secret_hash,)),
        ),
        "add chat item": (
            lambda: chat.add_thread_item("thr-backend", _item("thr-backend"), ctx),
            plain_item,
        ),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--concurrency", default="1,100")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--synchronous", default="FULL")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    folder = Path(tempfile.mkdtemp(prefix="orcheo-sqlite-bench-"))
    settings = StorageSettings(
        repository_sqlite_path=folder / "workflows.sqlite",
        chatkit_sqlite_path=folder / "chatkit.sqlite",
        vault_local_path=folder / "vault.sqlite",
        auth_service_token_db_path=folder / "service_tokens.sqlite",
        sqlite_synchronous=args.synchronous,
        vault_encryption_key="bench",
    )
    session = await SqliteSession.open(settings)
    plains = {
        "repository": await Plain.open(settings.repository_sqlite_path, args.synchronous),
        "tokens": await Plain.open(settings.token_db_path(), args.synchronous),
        "chat": await Plain.open(settings.chatkit_sqlite_path, args.synchronous),
    }
    results: list[dict[str, Any]] = []
    try:
        ops = await _ops(session, plains)
        header = (
            f"{'operation':22} {'tasks':>5} | {'backend ops/s':>13} {'p50':>7} {'p95':>7} "
            f"{'p99':>7} | {'plain ops/s':>11} {'p50':>7} {'p95':>7} {'p99':>7} | ratio"
        )
        print(
            f"SQLite backend vs aiosqlite, synchronous={args.synchronous}, "
            f"{args.seconds}s x {args.rounds} rounds (best round each); latencies in ms"
        )
        print(header)
        print("-" * len(header))
        for op_name, (backend_op, plain_op) in ops.items():
            for tasks in levels:
                best: dict[str, dict[str, float]] = {}
                for _ in range(args.rounds):
                    for label, op in (("plain", plain_op), ("backend", backend_op)):
                        stats = await _drive(op, tasks, args.seconds)
                        if label not in best or stats["ops_s"] > best[label]["ops_s"]:
                            best[label] = stats
                b, p = best["backend"], best["plain"]
                ratio = b["ops_s"] / p["ops_s"]
                print(
                    f"{op_name:22} {tasks:>5} | {b['ops_s']:>13.0f} {b['p50_ms']:>7.2f} "
                    f"{b['p95_ms']:>7.2f} {b['p99_ms']:>7.2f} | {p['ops_s']:>11.0f} "
                    f"{p['p50_ms']:>7.2f} {p['p95_ms']:>7.2f} {p['p99_ms']:>7.2f} | {ratio:.2f}",
                    flush=True,
                )
                results.append(
                    {"operation": op_name, "tasks": tasks, "backend": b, "plain": p, "ratio": ratio}
                )
    finally:
        for plain in plains.values():
            await plain.close()
        await session.close()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(f"median ratio: {statistics.median(r['ratio'] for r in results):.2f}")


if __name__ == "__main__":
    asyncio.run(main())
