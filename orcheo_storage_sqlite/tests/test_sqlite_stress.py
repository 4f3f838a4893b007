"""Stress: 100 concurrent tasks (a third writing) across every subsystem, for a bounded time.

Checks that no busy/locked error reaches a caller, that every acknowledged write is
stored exactly once (against a ledger of acknowledgements), and that the files pass
``PRAGMA integrity_check``.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import sqlite3
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from orcheo_storage.clock import utcnow
from orcheo_storage.errors import BackendBusyError, BackendUnavailableError
from orcheo_storage.keys import cipher_for
from orcheo_storage.models.chat import ChatContext
from orcheo_storage.models.tokens import ServiceToken
from orcheo_storage.settings import StorageSettings
from orcheo_storage.vault import CredentialVault
from orcheo_storage_sqlite.session import SqliteSession

TASKS = 100
WRITERS = TASKS // 3
DURATION_S = 6.0


def _integrity(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


@pytest.mark.slow
async def test_hundred_tasks_across_subsystems(tmp_path: Path, settings: StorageSettings) -> None:
    from chatkit.types import InferenceOptions, UserMessageItem, UserMessageTextContent
    from orcheo_storage_sqlite.chat import SqliteChatStore  # imports chatkit quietly

    session = await SqliteSession.open(settings)
    workflows = session.workflows()
    history = session.history()
    tokens = session.service_tokens()
    agentensor = session.agentensor()
    triggers = session.triggers()
    remediations = session.remediations()
    chat: SqliteChatStore = session.chatkit()
    vault = CredentialVault(session.vault_records(), cipher_for(settings))
    ctx = ChatContext()

    workflow = await workflows.create_workflow(name="stress", actor="t", handle="stress")
    first = await workflows.create_version(workflow.id, graph={"v": 0}, created_by="t")
    token = await tokens.create(
        ServiceToken(
            identifier="tok",
            secret_hash=hashlib.sha256(b"s").hexdigest(),
            issued_at=utcnow(),
        )
    )
    from chatkit.types import ThreadMetadata

    await chat.save_thread(ThreadMetadata(id="thr", created_at=utcnow()), ctx)
    await history.start_run(execution_id="exec", workflow_id=str(workflow.id))

    ledger: Counter[str] = Counter()
    versions: list[int] = []
    steps: list[int] = []
    items: list[str] = []
    checkpoints: list[int] = []
    runs: list[uuid.UUID] = []
    credentials: list[uuid.UUID] = []
    errors: list[BaseException] = []
    reads = 0
    deadline = time.monotonic() + DURATION_S

    async def writer(n: int) -> None:
        rng = random.Random(n)
        while time.monotonic() < deadline:
            kind = rng.randrange(8)
            try:
                if kind == 0:
                    v = await workflows.create_version(workflow.id, graph={"n": n}, created_by="w")
                    versions.append(v.version)
                elif kind == 1:
                    s = await history.append_step("exec", {"writer": n})
                    steps.append(s.index)
                elif kind == 2:
                    item_id = f"item-{uuid.uuid4()}"
                    await chat.add_thread_item(
                        "thr",
                        UserMessageItem(
                            id=item_id,
                            thread_id="thr",
                            created_at=utcnow(),
                            content=[UserMessageTextContent(text=f"hello {n}")],
                            inference_options=InferenceOptions(),
                        ),
                        ctx,
                    )
                    items.append(item_id)
                elif kind == 3:
                    await tokens.record_usage("tok", ip="127.0.0.1")
                    ledger["token_use"] += 1
                elif kind == 4:
                    cp = await agentensor.record_checkpoint(
                        workflow_id="wf", metrics={"n": n}, is_best=rng.random() < 0.3
                    )
                    checkpoints.append(cp.config_version)
                elif kind == 5:
                    run = await workflows.create_run(
                        workflow.id, workflow_version_id=first.id, triggered_by="w"
                    )
                    runs.append(run.id)
                    await remediations.create_candidate(
                        workflow_id=workflow.id,
                        workflow_version_id=first.id,
                        run_id=run.id,
                        fingerprint=f"fp-{run.id}",
                        version_checksum=first.checksum,
                    )
                elif kind == 6:
                    cred = await vault.create_credential(
                        name=f"cred-{uuid.uuid4()}", provider="p", secret="s", actor="w"
                    )
                    credentials.append(cred.id)
                else:
                    await triggers.increment_retry_attempt(first.id)
                    ledger["retry"] += 1
            except (BackendBusyError, BackendUnavailableError) as exc:
                errors.append(exc)

    async def reader(n: int) -> None:
        nonlocal reads
        rng = random.Random(1000 + n)
        while time.monotonic() < deadline:
            kind = rng.randrange(6)
            try:
                if kind == 0:
                    await workflows.get_workflow(workflow.id)
                elif kind == 1:
                    assert await tokens.get_by_hash(token.secret_hash) is not None
                elif kind == 2:
                    await chat.load_thread_items("thr", None, 20, "desc", ctx)
                elif kind == 3:
                    await history.list_steps("exec", limit=50)
                elif kind == 4:
                    await workflows.list_runs(workflow.id, limit=20)
                else:
                    await agentensor.best_checkpoint("wf")
                reads += 1
            except (BackendBusyError, BackendUnavailableError) as exc:
                errors.append(exc)

    started = time.monotonic()
    await asyncio.wait_for(
        asyncio.gather(
            *(writer(n) for n in range(WRITERS)), *(reader(n) for n in range(TASKS - WRITERS))
        ),
        timeout=DURATION_S + 60,
    )
    elapsed = time.monotonic() - started

    assert errors == []
    assert reads > 0
    # Ledger: every acknowledged write is there exactly once, numbering gapless.
    stored_versions = [v.version for v in await workflows.list_versions(workflow.id)]
    assert stored_versions == list(range(1, len(versions) + 2))
    assert sorted(versions) == stored_versions[1:]
    stored_steps = [s.index for s in await history.list_steps("exec", limit=10_000)]
    assert stored_steps == sorted(steps) == list(range(len(steps)))
    page = await chat.load_thread_items("thr", None, 10_000, "asc", ctx)
    assert sorted(i.id for i in page.data) == sorted(items)
    assert (await tokens.get_by_id("tok")).use_count == ledger["token_use"]
    used = await tokens.list_audit_events(token_id="tok", limit=10_000)
    assert len(used) == ledger["token_use"]
    stored_cps = sorted(
        c.config_version for c in await agentensor.list_checkpoints("wf", limit=10_000)
    )
    assert stored_cps == sorted(checkpoints) == list(range(1, len(checkpoints) + 1))
    bests = [c for c in await agentensor.list_checkpoints("wf", limit=10_000) if c.is_best]
    assert len(bests) <= 1
    stored_runs = (await workflows.list_runs(workflow.id, limit=10_000)).items
    assert sorted(r.id for r in stored_runs) == sorted(runs)
    assert len(await remediations.list_candidates(limit=10_000)) == len(runs)
    assert sorted(c.id for c in await vault.list_credentials()) == sorted(credentials)
    assert await triggers.get_retry_attempt(first.id) == ledger["retry"]
    await session.close()
    with sqlite3.connect(tmp_path / "chatkit.sqlite") as conn:
        ordinals = [r[0] for r in conn.execute("SELECT ordinal FROM chat_items ORDER BY ordinal")]
    assert ordinals == list(range(len(items)))
    for name in ("workflows", "chatkit", "vault", "service_tokens"):
        assert _integrity(tmp_path / f"{name}.sqlite") == "ok"
    assert elapsed < DURATION_S + 30
    print(
        f"stress: {elapsed:.1f}s, reads={reads}, versions={len(versions)}, steps={len(steps)}, "
        f"items={len(items)}, token_uses={ledger['token_use']}, checkpoints={len(checkpoints)}, "
        f"runs={len(runs)}, credentials={len(credentials)}, retries={ledger['retry']}"
    )
