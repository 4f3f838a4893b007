"""Every subsystem end to end on a real server (one happy path each, plus key errors)."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from decimal import Decimal

import pytest
from orcheo_storage.clock import utcnow
from orcheo_storage.errors import (
    DuplicateError,
    HandleConflictError,
    InvalidTransitionError,
    ValidationError,
    VersionNotFoundError,
    WorkflowNotFoundError,
)
from orcheo_storage.models.listeners import ListenerSubscriptionSpec
from orcheo_storage.models.tokens import ServiceToken
from orcheo_storage.models.workflows import RunStatus
from orcheo_storage.rules.workflows import WorkflowChanges
from orcheo_storage_postgres.session import PostgresSession


async def test_workflows_versions_runs(session: PostgresSession) -> None:
    repo = session.workflows()
    wf = await repo.create_workflow(name="Demo", actor="alice", handle="demo", tags=["A", "a"])
    assert wf.tags == ["a"]
    assert await repo.get_workflow(wf.id) == wf
    with pytest.raises(HandleConflictError):
        await repo.create_workflow(name="Other", actor="bob", handle="DEMO")
    graph = {"nodes": [1, 2], "big": 2**80, "exact": Decimal("0.1000000000000000000001")}
    v1 = await repo.create_version(wf.id, graph=graph, created_by="alice")
    v2 = await repo.create_version(wf.id, graph={"n": 1.5}, created_by="alice")
    assert (v1.version, v2.version) == (1, 2)
    assert (await repo.get_version(v1.id)).graph == graph
    assert await repo.get_latest_version(wf.id) == v2
    assert [v.version for v in await repo.list_versions(wf.id)] == [1, 2]
    run = await repo.create_run(wf.id, workflow_version_id=v1.id, triggered_by="alice")
    assert run.status is RunStatus.PENDING
    running = await repo.transition_run(run.id, RunStatus.RUNNING, actor="w")
    done = await repo.transition_run(running.id, RunStatus.SUCCEEDED, actor="w", output={"x": 1})
    assert await repo.get_run(run.id) == done
    with pytest.raises(InvalidTransitionError):
        await repo.transition_run(run.id, RunStatus.FAILED, actor="w")
    page = await repo.list_runs(wf.id, limit=1)
    assert [r.id for r in page.items] == [run.id]
    assert page.next_cursor is None
    assert await repo.resolve_workflow_ref(" DEMO ") == wf.id
    archived = await repo.archive_workflow(wf.id, actor="alice")
    assert archived.is_archived
    with pytest.raises(WorkflowNotFoundError):
        await repo.resolve_workflow_ref("demo")
    assert await repo.resolve_workflow_ref("demo", include_archived=True) == wf.id
    other = await repo.create_workflow(name="Reuse", actor="bob", handle="demo")
    with pytest.raises(HandleConflictError):
        await repo.update_workflow(wf.id, WorkflowChanges(is_archived=False), actor="alice")
    with pytest.raises(VersionNotFoundError):
        await repo.create_run(other.id, workflow_version_id=v1.id, triggered_by="x")
    with pytest.raises(ValidationError):
        await repo.create_version(other.id, graph={"bad": "\x00"}, created_by="x")
    assert await repo.list_versions(other.id) == []


async def test_coordination(session: PostgresSession) -> None:
    repo = session.workflows()
    wf = await repo.create_workflow(name="Coord", actor="a")
    v = await repo.create_version(wf.id, graph={}, created_by="a")
    triggers = session.triggers()
    hook = await triggers.set_webhook_config(
        wf.id, {"allowed_methods": ["post", "get", "GET"], "shared_secret": "s3cr3t"}
    )
    assert hook.allowed_methods == ["GET", "POST"]
    loaded = await triggers.get_webhook_config(wf.id)
    assert loaded.shared_secret is not None
    assert loaded.shared_secret.get_secret_value() == "s3cr3t"
    t0 = utcnow()
    assert await triggers.advance_cron_dispatch(wf.id, expected=None, new=t0)
    assert not await triggers.advance_cron_dispatch(wf.id, expected=None, new=t0)
    t1 = t0 + timedelta(minutes=1)
    assert await triggers.advance_cron_dispatch(wf.id, expected=t0, new=t1)
    assert await triggers.get_last_dispatched(wf.id) == t1
    assert await triggers.increment_retry_attempt(v.id) == 1
    assert await triggers.increment_retry_attempt(v.id) == 2

    listeners = session.listeners()
    spec = ListenerSubscriptionSpec(node_name="n", platform="slack", bot_identity_key="b")
    (sub,) = await listeners.sync_subscriptions(wf.id, v.id, [spec])
    claimed = await listeners.claim_subscription(sub.id, runtime_id="r1", lease_seconds=30)
    assert claimed is not None
    assert claimed.assigned_runtime == "r1"
    assert await listeners.claim_subscription(sub.id, runtime_id="r2", lease_seconds=30) is None
    run = await listeners.dispatch_event(
        sub.id, "k1", window_seconds=60, workflow_version_id=v.id, triggered_by="listener"
    )
    assert run is not None
    again = await listeners.dispatch_event(
        sub.id, "k1", window_seconds=60, workflow_version_id=v.id, triggered_by="listener"
    )
    assert again is None

    rem = session.remediations()
    c1 = await rem.create_candidate(
        workflow_id=wf.id,
        workflow_version_id=v.id,
        run_id=run.id,
        fingerprint="f",
        version_checksum="c",
    )
    c2 = await rem.create_candidate(
        workflow_id=wf.id,
        workflow_version_id=v.id,
        run_id=run.id,
        fingerprint="f",
        version_checksum="c",
    )
    assert c1.id == c2.id
    got = await rem.claim_next(worker_id="w")
    assert got is not None
    assert got.id == c1.id
    assert got.attempt_count == 1
    assert await rem.claim_next(worker_id="w") is None


async def test_history_tokens_agentensor(session: PostgresSession) -> None:
    hist = session.history()
    await hist.start_run(execution_id="e1", workflow_id="wf")
    with pytest.raises(DuplicateError):
        await hist.start_run(execution_id="e1", workflow_id="wf")
    steps = [await hist.append_step("e1", {"i": i}) for i in range(3)]
    assert [s.index for s in steps] == [0, 1, 2]
    record = await hist.get_history("e1")
    assert [s.payload for s in record.steps] == [{"i": 0}, {"i": 1}, {"i": 2}]
    done = await hist.mark_completed("e1")
    assert done.status.value == "completed"

    tokens = session.service_tokens()
    h = hashlib.sha256(b"secret").hexdigest()
    token = ServiceToken(identifier="t1", secret_hash=h, issued_at=utcnow())
    created = await tokens.create(token)
    assert created.created_at is not None
    assert created == token.model_copy(update={"created_at": created.created_at})
    assert await tokens.get_by_hash(h) == created
    await tokens.record_usage("t1", ip="1.2.3.4")
    assert (await tokens.get_by_id("t1")).use_count == 1
    revoked = await tokens.revoke("t1", reason="leak")
    assert revoked.revoked_at is not None
    assert [e.action for e in await tokens.list_audit_events(token_id="t1")] == ["revoked", "used"]

    ag = session.agentensor()
    a = await ag.record_checkpoint(workflow_id="w", metrics={"score": 0.5}, is_best=True)
    b = await ag.record_checkpoint(workflow_id="w", metrics={"score": 0.9}, is_best=True)
    assert (a.config_version, b.config_version) == (1, 2)
    best = await ag.best_checkpoint("w")
    assert best is not None
    assert best.id == b.id
    assert [c.id for c in await ag.list_checkpoints("w", metrics_contains={"score": 0.5})] == [a.id]
    await ag.mark_best(a.id)
    assert (await ag.get_checkpoint(b.id)).is_best is False
