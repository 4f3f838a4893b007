"""The demo's steps: each writes data in one subsystem, reads it back and checks it.

A step returns a one-line summary and raises :class:`DemoCheckError` when what it reads
back differs from what it wrote. Steps run in order and share a :class:`DemoContext`
(the workflow, version and run created first).
"""

from __future__ import annotations

import importlib
import secrets
import uuid
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from orcheo_storage.clock import utcnow
from orcheo_storage.errors import InvalidTransitionError, UnsupportedError
from orcheo_storage.models.chat import ChatContext
from orcheo_storage.models.listeners import ListenerSubscriptionSpec
from orcheo_storage.models.remediations import RemediationStatus
from orcheo_storage.models.tokens import ServiceToken
from orcheo_storage.models.workflows import RunStatus, Workflow, WorkflowRun, WorkflowVersion
from orcheo_storage.protocols.backend import Subsystem
from orcheo_storage.rules.tokens import hash_secret
from orcheo_storage.storage import Storage


class DemoCheckError(Exception):
    """Data read back differs from what the demo wrote."""


class DemoSkip(Exception):
    """The step cannot run here (missing prerequisite or optional package)."""


@dataclass
class DemoContext:
    """State shared between steps. ``suffix`` keeps names unique across repeated runs."""

    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    workflow: Workflow | None = None
    version: WorkflowVersion | None = None
    run: WorkflowRun | None = None

    def need_workflow(self) -> tuple[Workflow, WorkflowVersion, WorkflowRun]:
        if self.workflow is None or self.version is None or self.run is None:
            raise DemoSkip("needs the workflow created by the workflows step")
        return self.workflow, self.version, self.run


def expect(condition: bool, message: str) -> None:
    """Raise :class:`DemoCheckError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise DemoCheckError(message)


Step = Callable[[Storage, DemoContext], Awaitable[str]]


async def workflows_step(storage: Storage, ctx: DemoContext) -> str:
    repo = storage.workflows
    handle = f"demo-{ctx.suffix}"
    workflow = await repo.create_workflow(
        name=f"Demo workflow {ctx.suffix}", actor="demo", handle=handle, tags=["Demo", "demo"]
    )
    expect(workflow.tags == ["demo"], f"tags not normalised: {workflow.tags}")
    expect(await repo.get_workflow(workflow.id) == workflow, "workflow read back differs")
    expect(await repo.resolve_workflow_ref(handle.upper()) == workflow.id, "handle not resolved")
    graph = {"nodes": [{"name": "start"}, {"name": "end"}], "edges": [["start", "end"]]}
    version = await repo.create_version(
        workflow.id,
        graph=graph,
        created_by="demo",
        runnable_config={"configurable": {"model": "demo-model", "temperature": 0.5}},
    )
    expect(version.version == 1, f"first version numbered {version.version}")
    expect(await repo.get_latest_version(workflow.id) == version, "latest version differs")
    run = await repo.create_run(
        workflow.id,
        workflow_version_id=version.id,
        triggered_by="demo",
        input_payload={"question": "2 + 2", "big": 2**70},
        runnable_config={"configurable": {"temperature": 0.0}},
    )
    configurable = run.runnable_config.get("configurable")
    expect(
        configurable == {"model": "demo-model", "temperature": 0.0},
        f"runnable config not merged key by key: {configurable}",
    )
    await repo.transition_run(run.id, RunStatus.RUNNING, actor="demo")
    await repo.transition_run(run.id, RunStatus.SUCCEEDED, actor="demo", output={"answer": 4})
    stored = await repo.get_run(run.id)
    expect(stored.status is RunStatus.SUCCEEDED, f"run status {stored.status}")
    expect(stored.output_payload == {"answer": 4}, "run output differs")
    expect(stored.input_payload["big"] == 2**70, "big integer did not round-trip")
    try:
        await repo.transition_run(run.id, RunStatus.RUNNING, actor="demo")
    except InvalidTransitionError:
        pass
    else:
        raise DemoCheckError("succeeded -> running was allowed")
    page = await repo.list_runs(workflow.id, limit=10)
    expect([r.id for r in page.items] == [run.id], "run list differs")
    ctx.workflow, ctx.version, ctx.run = workflow, version, stored
    return f"workflow {handle} v1; run pending -> running -> succeeded"


async def triggers_step(storage: Storage, ctx: DemoContext) -> str:
    workflow, _, _ = ctx.need_workflow()
    triggers = storage.triggers
    webhook = await triggers.set_webhook_config(
        workflow.id,
        {"allowed_methods": ["post", "get", "POST"], "shared_secret": "demo-webhook-secret"},
    )
    read = await triggers.get_webhook_config(workflow.id)
    expect(read.allowed_methods == ["GET", "POST"], f"methods {read.allowed_methods}")
    expect(read == webhook, "webhook config read back differs")
    secret = read.shared_secret.get_secret_value() if read.shared_secret else None
    expect(secret == "demo-webhook-secret", "webhook secret did not decrypt")
    cron = await triggers.set_cron_config(workflow.id, {"expression": "*/5  * * * *"})
    expect(await triggers.get_cron_config(workflow.id) == cron, "cron config differs")
    slot = utcnow().replace(second=0, microsecond=0)
    first = await triggers.advance_cron_dispatch(workflow.id, expected=None, new=slot)
    again = await triggers.advance_cron_dispatch(workflow.id, expected=None, new=slot)
    expect(first and not again, f"cron compare-and-set gave {first}, {again}")
    expect(await triggers.get_last_dispatched(workflow.id) == slot, "last dispatch differs")
    return "webhook + cron configs; cron slot CAS won once, refused once"


async def listeners_step(storage: Storage, ctx: DemoContext) -> str:
    workflow, version, _ = ctx.need_workflow()
    listeners = storage.listeners
    spec = ListenerSubscriptionSpec(
        node_name="telegram", platform="telegram", bot_identity_key=f"bot-{ctx.suffix}"
    )
    synced = await listeners.sync_subscriptions(workflow.id, version.id, [spec])
    expect(len(synced) == 1, f"sync created {len(synced)} subscriptions")
    listed = await listeners.list_subscriptions(workflow.id)
    expect([s.id for s in listed] == [synced[0].id], "subscription list differs")
    claimed = await listeners.claim_subscription(synced[0].id, runtime_id="rt-a", lease_seconds=30)
    expect(claimed is not None and claimed.assigned_runtime == "rt-a", "claim failed")
    other = await listeners.claim_subscription(synced[0].id, runtime_id="rt-b", lease_seconds=30)
    expect(other is None, "a second runtime claimed a leased subscription")
    expect(await listeners.release_subscription(synced[0].id, runtime_id="rt-a"), "release failed")
    return "1 subscription synced; claimed by rt-a, refused to rt-b, released"


async def remediations_step(storage: Storage, ctx: DemoContext) -> str:
    workflow, version, run = ctx.need_workflow()
    remediations = storage.remediations
    args: dict[str, Any] = {
        "workflow_id": workflow.id,
        "workflow_version_id": version.id,
        "run_id": run.id,
        "fingerprint": f"demo-{ctx.suffix}",
        "version_checksum": version.checksum,
        "context": {"error": "demo failure"},
    }
    candidate = await remediations.create_candidate(**args)
    duplicate = await remediations.create_candidate(**args)
    expect(duplicate.id == candidate.id, "same fingerprint created a second candidate")
    claimed = await remediations.claim_next(worker_id="demo-worker")
    expect(claimed is not None and claimed.id == candidate.id, "claim-next missed the candidate")
    assert claimed is not None
    expect(claimed.attempt_count == 1, f"attempt count {claimed.attempt_count}")
    fixed = await remediations.transition_candidate(
        candidate.id, RemediationStatus.FIXED, action="demo fix"
    )
    stored = await remediations.get_candidate(candidate.id)
    expect(stored == fixed and stored.status is RemediationStatus.FIXED, "candidate differs")
    return "candidate created (idempotent), claimed, fixed"


async def history_step(storage: Storage, ctx: DemoContext) -> str:
    history = storage.history
    execution_id = f"demo-exec-{ctx.suffix}"
    workflow_id = str(ctx.workflow.id) if ctx.workflow else f"demo-{ctx.suffix}"
    await history.start_run(
        execution_id=execution_id, workflow_id=workflow_id, inputs={"question": "2 + 2"}
    )
    for payload in ({"node": "start"}, {"node": "llm", "tokens": 12}, "done"):
        await history.append_step(execution_id, payload)
    await history.mark_completed(execution_id)
    record = await history.get_history(execution_id)
    expect(record.status.value == "completed", f"history status {record.status}")
    expect([s.index for s in record.steps] == [0, 1, 2], "step indexes not 0, 1, 2")
    expect(record.steps[2].payload == {"value": "done"}, "non-mapping payload not wrapped")
    return f"execution {execution_id}: 3 steps, completed"


async def tokens_step(storage: Storage, ctx: DemoContext) -> str:
    tokens = storage.service_tokens
    secret = secrets.token_urlsafe(24)
    token = ServiceToken(
        identifier=f"demo-token-{ctx.suffix}",
        secret_hash=hash_secret(secret),
        scopes=["workflows:read"],
        issued_at=utcnow(),
        expires_at=utcnow() + timedelta(days=1),
    )
    await tokens.create(token)
    found = await tokens.get_by_hash(hash_secret(secret))
    expect(found is not None and found.identifier == token.identifier, "lookup by hash failed")
    await tokens.record_usage(token.identifier, ip="127.0.0.1")
    await tokens.record_usage(token.identifier, ip="127.0.0.1")
    await tokens.flush_usage()
    used = await tokens.get_by_id(token.identifier)
    expect(used.use_count == 2, f"use_count {used.use_count}")
    return f"{token.identifier}: found by hash, 2 uses recorded"


async def agentensor_step(storage: Storage, ctx: DemoContext) -> str:
    store = storage.agentensor
    workflow_id = f"demo-{ctx.suffix}"
    first = await store.record_checkpoint(workflow_id=workflow_id, metrics={"score": 0.91})
    await store.record_checkpoint(workflow_id=workflow_id, metrics={"score": 0.72}, is_best=True)
    third = await store.record_checkpoint(workflow_id=workflow_id, metrics={"score": 0.88})
    await store.mark_best(first.id)
    best = await store.best_checkpoint(workflow_id)
    latest = await store.latest_checkpoint(workflow_id)
    listed = await store.list_checkpoints(workflow_id)
    expect(best is not None and best.id == first.id, "best checkpoint differs")
    expect(latest is not None and latest.id == third.id, "latest checkpoint differs")
    expect([c.config_version for c in listed] == [3, 2, 1], "checkpoint order differs")
    expect(sum(c.is_best for c in listed) == 1, "more than one best checkpoint")
    return "3 checkpoints (v1..v3); best moved to v1"


async def vault_step(storage: Storage, ctx: DemoContext) -> str:
    vault = storage.vault
    secret = f"sk-demo-{secrets.token_hex(8)}"
    credential = await vault.create_credential(
        name=f"Demo credential {ctx.suffix}", provider="openai", secret=secret, actor="demo"
    )
    expect(await vault.get_credential(credential.id) == credential, "credential differs")
    revealed = await vault.reveal_secret(credential.id)
    expect(revealed.get_secret_value() == secret, "secret did not decrypt to what was stored")
    stored = await vault.records.get_credential(credential.id)
    expect(secret not in stored.model_dump_json(), "secret stored in clear")
    return f"credential {credential.name!r}: encrypted, revealed"


async def chatkit_step(storage: Storage, ctx: DemoContext) -> str:
    try:
        # chatkit warns about its own widget classes on first import; not the user's concern
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", "Direct usage of named widget classes", DeprecationWarning
            )
            from chatkit.types import (
                AssistantMessageContent,
                AssistantMessageItem,
                InferenceOptions,
                ThreadMetadata,
                UserMessageItem,
                UserMessageTextContent,
            )
    except ImportError as exc:
        raise DemoSkip(
            "openai-chatkit is not installed (pip install orcheo-storage[chatkit])"
        ) from exc
    store = storage.chatkit
    workflow_id = str(ctx.workflow.id) if ctx.workflow else f"demo-{ctx.suffix}"
    context = ChatContext(workflow_id=workflow_id)
    now = utcnow()
    thread_id = f"thr_demo_{ctx.suffix}"
    await store.save_thread(
        ThreadMetadata(id=thread_id, created_at=now, metadata={"workflow_id": workflow_id}),
        context,
    )
    question = UserMessageItem(
        id=f"msg_demo_{ctx.suffix}_1",
        thread_id=thread_id,
        created_at=now,
        content=[UserMessageTextContent(text="What does the demo store?")],
        inference_options=InferenceOptions(),
    )
    answer = AssistantMessageItem(
        id=f"msg_demo_{ctx.suffix}_2",
        thread_id=thread_id,
        created_at=now,
        content=[AssistantMessageContent(text="Every Orcheo storage subsystem.")],
    )
    await store.add_thread_item(thread_id, question, context)
    await store.add_thread_item(thread_id, answer, context)
    thread = await store.load_thread(thread_id, context)
    expect(thread.id == thread_id, "thread differs")
    items = await store.load_thread_items(thread_id, None, 10, "asc", context)
    expect([i.id for i in items.data] == [question.id, answer.id], "items differ or out of order")
    return f"thread {thread_id}: 2 items in order"


async def langgraph_step(storage: Storage, ctx: DemoContext) -> str:
    try:
        checkpointer = storage.langgraph_checkpointer()
        # imported by name: langgraph is an optional extra of the backends, not of core
        empty_checkpoint = importlib.import_module("langgraph.checkpoint.base").empty_checkpoint
    except (UnsupportedError, ImportError) as exc:
        # LangGraph persistence is an optional capability of a backend
        raise DemoSkip(str(exc)) from exc
    checkpoint = empty_checkpoint()
    config: dict[str, Any] = {
        "configurable": {"thread_id": f"demo-{ctx.suffix}", "checkpoint_ns": ""}
    }
    metadata: dict[str, Any] = {"source": "input", "step": -1, "parents": {}}
    async with checkpointer as saver:
        saved = await saver.aput(config, checkpoint, metadata, {})
        loaded = await saver.aget_tuple(saved)
    expect(loaded is not None, "checkpoint not found after saving it")
    expect(loaded.checkpoint["id"] == checkpoint["id"], "checkpoint read back differs")
    return f"checkpoint saved and loaded on thread demo-{ctx.suffix}"


STEPS: tuple[tuple[Subsystem, str, Step], ...] = (
    (Subsystem.WORKFLOWS, "workflows, versions, runs", workflows_step),
    (Subsystem.TRIGGERS, "trigger configs, cron CAS", triggers_step),
    (Subsystem.LISTENERS, "listener sync and claim", listeners_step),
    (Subsystem.REMEDIATIONS, "remediation create and claim", remediations_step),
    (Subsystem.HISTORY, "run history", history_step),
    (Subsystem.SERVICE_TOKENS, "service tokens", tokens_step),
    (Subsystem.AGENTENSOR, "agentensor checkpoints", agentensor_step),
    (Subsystem.VAULT, "credential vault", vault_step),
    (Subsystem.CHATKIT, "ChatKit threads and items", chatkit_step),
    (Subsystem.LANGGRAPH, "LangGraph checkpointer", langgraph_step),
)
"""Subsystem, label and step, in the order they run."""
