"""Generate a legacy Orcheo SQLite folder (workflows.sqlite + chatkit.sqlite) of a given size.

Shaped like real run history and chat data: executions with many steps whose payloads are
LangGraph-style state updates (messages, tool calls, numbers), and chat threads with user
and assistant messages. Usage::

    python benchmarks/migration_generate.py OUT_DIR --gigabytes 1.0
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

WORDS = [
    "agent",
    "tool",
    "call",
    "result",
    "state",
    "graph",
    "node",
    "edge",
    "token",
    "model",
    "prompt",
    "answer",
    "retry",
    "error",
    "search",
    "document",
    "summary",
    "user",
    "assistant",
    "message",
    "thread",
    "workflow",
    "schedule",
    "webhook",
    "vector",
    "embedding",
    "chunk",
    "score",
    "latency",
    "cost",
    "budget",
    "cache",
    "über",
    "naïve",
    "東京",
    "🚀",
]

REPO_DDL = (
    "CREATE TABLE execution_history (execution_id TEXT PRIMARY KEY, workflow_id TEXT, inputs TEXT, "
    "runnable_config TEXT, tags TEXT, callbacks TEXT, metadata TEXT, run_name TEXT, status TEXT, "
    "started_at TEXT, completed_at TEXT, error TEXT, trace_id TEXT, trace_started_at TEXT, "
    "trace_completed_at TEXT, trace_last_span_at TEXT)",
    "CREATE TABLE execution_history_steps (execution_id TEXT NOT NULL, step_index INTEGER NOT NULL, "
    "at TEXT, payload TEXT, PRIMARY KEY (execution_id, step_index))",
)
CHAT_DDL = (
    "CREATE TABLE chat_threads (id TEXT PRIMARY KEY, title TEXT, workflow_id TEXT, status_json TEXT, "
    "metadata_json TEXT, created_at TEXT, updated_at TEXT)",
    "CREATE TABLE chat_messages (id TEXT PRIMARY KEY, thread_id TEXT, ordinal INTEGER, item_type TEXT, "
    "item_json TEXT, created_at TEXT)",
)


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choices(WORDS, k=words))


def _step(rng: random.Random, index: int) -> str:
    return json.dumps(
        {
            "node": rng.choice(["agent", "tools", "retriever", "router"]),
            "index": index,
            "messages": [
                {"role": "assistant", "content": _text(rng, rng.randint(150, 450))},
                {"role": "tool", "name": "search", "content": _text(rng, rng.randint(20, 120))},
            ],
            "usage": {"prompt_tokens": rng.randint(10, 9000), "cost": round(rng.random(), 6)},
            "scores": [rng.random() for _ in range(5)],
        },
        ensure_ascii=False,
    )


def generate(out: Path, gigabytes: float, seed: int = 7) -> None:
    """Write ``out/workflows.sqlite`` and ``out/chatkit.sqlite`` totalling ~``gigabytes``."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    repo = sqlite3.connect(out / "workflows.sqlite")
    chat = sqlite3.connect(out / "chatkit.sqlite")
    for conn, ddl in ((repo, REPO_DDL), (chat, CHAT_DDL)):
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")
        for statement in ddl:
            conn.execute(statement)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    target = gigabytes * 1024**3
    n = 0
    while True:
        size = sum((out / f).stat().st_size for f in ("workflows.sqlite", "chatkit.sqlite"))
        size += sum(p.stat().st_size for p in out.glob("*-wal"))
        if size >= target:
            break
        histories, steps, threads, messages = [], [], [], []
        for _ in range(200):
            n += 1
            at = start + timedelta(seconds=n * 37)
            wid = str(uuid.UUID(int=rng.getrandbits(128)))
            exec_id = str(uuid.UUID(int=rng.getrandbits(128)))
            histories.append(
                (exec_id, wid, json.dumps({"question": _text(rng, 30)}), "{}", '["bench"]', "[]",
                 json.dumps({"n": n}), None, "completed", at.isoformat(),
                 (at + timedelta(seconds=9)).isoformat(), None, None, None, None, None)
            )  # fmt: skip
            for i in range(rng.randint(8, 24)):
                steps.append((exec_id, i, (at + timedelta(seconds=i)).isoformat(), _step(rng, i)))
            thread_id = f"thr_{n:09d}"
            threads.append(
                (thread_id, _text(rng, 4), wid, '{"type": "active"}', json.dumps({"workflow_id": wid}),
                 at.isoformat(), at.isoformat())
            )  # fmt: skip
            for i in range(rng.randint(2, 10)):
                msg_id = f"msg_{n:09d}_{i:03d}"
                user = i % 2 == 0
                item = {
                    "id": msg_id,
                    "thread_id": thread_id,
                    "created_at": (at + timedelta(seconds=i)).isoformat(),
                    "type": "user_message" if user else "assistant_message",
                    "content": [
                        {"type": "input_text" if user else "output_text",
                         "text": _text(rng, rng.randint(10, 200))}
                    ],
                }  # fmt: skip
                if user:
                    item.update(attachments=[], inference_options={})
                else:
                    item["content"][0]["annotations"] = []
                messages.append(
                    (msg_id, thread_id, i, item["type"], json.dumps(item, ensure_ascii=False),
                     item["created_at"])
                )  # fmt: skip
        repo.executemany(
            "INSERT INTO execution_history VALUES (" + ",".join("?" * 16) + ")", histories
        )
        repo.executemany("INSERT INTO execution_history_steps VALUES (?,?,?,?)", steps)
        chat.executemany("INSERT INTO chat_threads VALUES (?,?,?,?,?,?,?)", threads)
        chat.executemany("INSERT INTO chat_messages VALUES (?,?,?,?,?,?)", messages)
        repo.commit()
        chat.commit()
    for conn in (repo, chat):
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--gigabytes", type=float, default=1.0)
    args = parser.parse_args()
    generate(args.out, args.gigabytes)


if __name__ == "__main__":
    main()
