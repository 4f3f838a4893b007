"""Mixed-load benchmark of the SQLite backend: do writers make progress beside many readers?

100 tasks (a third writing, the rest reading) loop for ``--seconds`` through the store API
of one :class:`~orcheo_storage_sqlite.session.SqliteSession`, touching every subsystem
(the operation mix of ``orcheo_storage_sqlite/tests/test_sqlite_stress.py``):

* writers: create version, append history step, add chat item, record token use,
  record agentensor checkpoint, create run + remediation candidate, create a vault
  credential (or, every other time, delete the one this writer created last: see below),
  increment trigger retry;
* readers: get workflow, token lookup by hash, load 20 chat items, list 50 history steps,
  list 20 runs, best checkpoint, list vault credentials.

Every read returns a bounded amount of data, so a read costs the same however many writes
ran before it: the vault starts with 100 credentials and each writer keeps at most one of
its own (``--vault-writes churn``, the default since 2026-12-05). With ``--vault-writes
create`` (the benchmark before that day) every vault write adds a credential, so the list
read grows with the writes done and faster writers make every later list read slower.

Then the same writers run alone (no readers) on a fresh session for the same time.
Reports, per round, writes/s and p50/p95 write latency with readers, reads/s and p50/p95
read latency, writes/s alone, and the ratio mixed / alone (target >= 1/3). The best round
by ratio is not picked: every round is printed, and the summary gives the median.

Usage:
    .venv/bin/python benchmarks/sqlite_mixed_bench.py [--seconds 5] [--rounds 2]
        [--tasks 100] [--synchronous FULL] [--vault-writes churn|create] [--json out.json]

Not a timed test: numbers depend on the machine (load average is printed).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from uuid import UUID

from chatkit.types import (
    InferenceOptions,
    ThreadMetadata,
    UserMessageItem,
    UserMessageTextContent,
)
from orcheo_storage.clock import utcnow
from orcheo_storage.keys import cipher_for
from orcheo_storage.models.chat import ChatContext
from orcheo_storage.models.tokens import ServiceToken
from orcheo_storage.settings import StorageSettings
from orcheo_storage.vault import CredentialVault
from orcheo_storage_sqlite.session import SqliteSession


def _settings(folder: Path, synchronous: str) -> StorageSettings:
    return StorageSettings(
        repository_backend="sqlite",
        chatkit_backend="sqlite",
        vault_backend="sqlite",
        auth_service_token_backend="sqlite",
        checkpoint_backend="sqlite",
        repository_sqlite_path=folder / "workflows.sqlite",
        chatkit_sqlite_path=folder / "chatkit.sqlite",
        vault_local_path=folder / "vault.sqlite",
        auth_service_token_db_path=folder / "service_tokens.sqlite",
        vault_encryption_key="mixed-bench-key",
        sqlite_synchronous=synchronous,
    )


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))] * 1000


async def _run(
    settings: StorageSettings, writers: int, readers: int, seconds: float, vault_writes: str
) -> dict[str, Any]:
    session = await SqliteSession.open(settings)
    try:
        workflows = session.workflows()
        history = session.history()
        tokens = session.service_tokens()
        agentensor = session.agentensor()
        triggers = session.triggers()
        remediations = session.remediations()
        chat = session.chatkit()
        vault = CredentialVault(session.vault_records(), cipher_for(settings))
        ctx = ChatContext()

        workflow = await workflows.create_workflow(name="mixed", actor="b", handle="mixed")
        first = await workflows.create_version(workflow.id, graph={"v": 0}, created_by="b")
        token = await tokens.create(
            ServiceToken(
                identifier="tok",
                secret_hash=hashlib.sha256(b"s").hexdigest(),
                issued_at=utcnow(),
            )
        )
        await chat.save_thread(ThreadMetadata(id="thr", created_at=utcnow()), ctx)
        await history.start_run(execution_id="exec", workflow_id=str(workflow.id))
        # Some rows for the readers to return.
        for n in range(20):
            await history.append_step("exec", {"seed": n, "data": "x" * 200})
            await chat.add_thread_item(
                "thr",
                UserMessageItem(
                    id=f"seed-{n}",
                    thread_id="thr",
                    created_at=utcnow(),
                    content=[UserMessageTextContent(text=f"seed {n}")],
                    inference_options=InferenceOptions(),
                ),
                ctx,
            )
            await agentensor.record_checkpoint(workflow_id="wf", metrics={"n": n}, is_best=n == 3)
            await workflows.create_run(workflow.id, workflow_version_id=first.id, triggered_by="b")
        for n in range(100 if vault_writes == "churn" else 1):
            await vault.create_credential(name=f"seed-{n}", provider="p", secret="s", actor="b")

        write_lat: list[float] = []
        read_lat: list[float] = []
        stop = asyncio.Event()

        async def writer(n: int) -> None:
            rng = random.Random(n)
            mine: UUID | None = None  # this writer's credential (churn)
            while not stop.is_set():
                kind = rng.randrange(8)
                started = time.perf_counter()
                if kind == 0:
                    await workflows.create_version(workflow.id, graph={"n": n}, created_by="w")
                elif kind == 1:
                    await history.append_step("exec", {"writer": n})
                elif kind == 2:
                    await chat.add_thread_item(
                        "thr",
                        UserMessageItem(
                            id=f"item-{uuid.uuid4()}",
                            thread_id="thr",
                            created_at=utcnow(),
                            content=[UserMessageTextContent(text=f"hello {n}")],
                            inference_options=InferenceOptions(),
                        ),
                        ctx,
                    )
                elif kind == 3:
                    await tokens.record_usage("tok", ip="127.0.0.1")
                elif kind == 4:
                    await agentensor.record_checkpoint(
                        workflow_id="wf", metrics={"n": n}, is_best=rng.random() < 0.3
                    )
                elif kind == 5:
                    run = await workflows.create_run(
                        workflow.id, workflow_version_id=first.id, triggered_by="w"
                    )
                    await remediations.create_candidate(
                        workflow_id=workflow.id,
                        workflow_version_id=first.id,
                        run_id=run.id,
                        fingerprint=f"fp-{run.id}",
                        version_checksum=first.checksum,
                    )
                elif kind == 6:
                    if mine is not None:
                        await vault.delete_credential(mine)
                        mine = None
                    else:
                        created = await vault.create_credential(
                            name=f"cred-{uuid.uuid4()}", provider="p", secret="s", actor="w"
                        )
                        mine = created.id if vault_writes == "churn" else None
                else:
                    await triggers.increment_retry_attempt(first.id)
                write_lat.append(time.perf_counter() - started)

        async def reader(n: int) -> None:
            rng = random.Random(1000 + n)
            while not stop.is_set():
                kind = rng.randrange(7)
                started = time.perf_counter()
                if kind == 0:
                    await workflows.get_workflow(workflow.id)
                elif kind == 1:
                    await tokens.get_by_hash(token.secret_hash)
                elif kind == 2:
                    await chat.load_thread_items("thr", None, 20, "desc", ctx)
                elif kind == 3:
                    await history.list_steps("exec", limit=50)
                elif kind == 4:
                    await workflows.list_runs(workflow.id, limit=20)
                elif kind == 5:
                    await agentensor.best_checkpoint("wf")
                else:
                    await vault.list_credentials()
                read_lat.append(time.perf_counter() - started)

        tasks = [asyncio.create_task(writer(n)) for n in range(writers)]
        tasks += [asyncio.create_task(reader(n)) for n in range(readers)]
        await asyncio.sleep(seconds)
        # Count what completed inside the window; in-flight operations finish afterwards.
        writes, reads = len(write_lat), len(read_lat)
        w_lat, r_lat = list(write_lat), list(read_lat)
        stop.set()
        await asyncio.gather(*tasks)
    finally:
        await session.close()
    return {
        "writes_per_s": writes / seconds,
        "reads_per_s": reads / seconds,
        "write_p50_ms": _pct(w_lat, 0.50),
        "write_p95_ms": _pct(w_lat, 0.95),
        "read_p50_ms": _pct(r_lat, 0.50),
        "read_p95_ms": _pct(r_lat, 0.95),
    }


async def _round(args: argparse.Namespace) -> dict[str, Any]:
    writers = args.tasks // 3
    readers = args.tasks - writers
    with tempfile.TemporaryDirectory(prefix="sqlite-mixed-") as a:
        mixed = await _run(
            _settings(Path(a), args.synchronous), writers, readers, args.seconds, args.vault_writes
        )
    with tempfile.TemporaryDirectory(prefix="sqlite-mixed-") as b:
        alone = await _run(
            _settings(Path(b), args.synchronous), writers, 0, args.seconds, args.vault_writes
        )
    return {
        "mixed": mixed,
        "alone": alone,
        "ratio": mixed["writes_per_s"] / alone["writes_per_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--synchronous", default="FULL")
    parser.add_argument("--vault-writes", choices=("churn", "create"), default="churn")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    load_before = os.getloadavg()
    rounds = [asyncio.run(_round(args)) for _ in range(args.rounds)]
    load_after = os.getloadavg()
    writers = args.tasks // 3
    print(
        f"{args.tasks} tasks ({writers} writing, {args.tasks - writers} reading), "
        f"{args.seconds:g} s per run, synchronous={args.synchronous}"
    )
    print(f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}")
    print(f"load average after:  {' '.join(f'{x:.2f}' for x in load_after)}")
    header = (
        f"{'round':>5} {'writes/s':>9} {'w p50':>7} {'w p95':>7} {'reads/s':>8} "
        f"{'r p50':>7} {'r p95':>7} {'alone w/s':>9} {'alone p95':>9} {'ratio':>6}"
    )
    print(header)
    for i, r in enumerate(rounds, 1):
        m, a = r["mixed"], r["alone"]
        print(
            f"{i:>5} {m['writes_per_s']:>9.0f} {m['write_p50_ms']:>7.1f} {m['write_p95_ms']:>7.1f} "
            f"{m['reads_per_s']:>8.0f} {m['read_p50_ms']:>7.1f} {m['read_p95_ms']:>7.1f} "
            f"{a['writes_per_s']:>9.0f} {a['write_p95_ms']:>9.1f} {r['ratio']:>6.2f}"
        )
    ratios = [r["ratio"] for r in rounds]
    print(f"median ratio mixed/alone writes: {statistics.median(ratios):.2f} (target >= 0.33)")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "args": vars(args) | {"json": str(args.json)},
                    "rounds": rounds,
                    "load_before": load_before,
                    "load_after": load_after,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
