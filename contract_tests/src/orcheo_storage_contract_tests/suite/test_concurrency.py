"""Contract: races (DOMAIN.md section 0, "multi-process safety").

Many asyncio tasks on one open Storage, and several OS processes each opening the same
namespace, race on version numbering, step appends, chat ordinals, remediation and listener
claims, run transitions and cron-slot compare-and-set. Exactly the promised winners, no
duplicates, no gaps. The process races need capability ``cross_process_atomic``.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from orcheo_storage.errors import InvalidTransitionError
from orcheo_storage.models.chat import ChatContext
from orcheo_storage.models.common import build
from orcheo_storage.models.listeners import ListenerSubscriptionSpec
from orcheo_storage.models.tokens import ServiceToken
from orcheo_storage.models.workflows import RunStatus, Workflow, WorkflowRun, WorkflowVersion
from orcheo_storage.rules.tokens import hash_secret
from orcheo_storage.settings import StorageSettings
from orcheo_storage.storage import Storage

from orcheo_storage_contract_tests._runner import settings_payload
from orcheo_storage_contract_tests.chat_objects import chat_thread, user_message
from orcheo_storage_contract_tests.race_workers import chat_ordinals, race, warm_up

TASKS = 24
PROCESSES = 3
SLOT0 = datetime(2025, 1, 1, 0, 0, tzinfo=UTC)


async def _workflow(storage: Storage, name: str = "race") -> tuple[Workflow, WorkflowVersion]:
    workflow = await storage.workflows.create_workflow(name=name, actor="suite")
    version = await storage.workflows.create_version(
        workflow.id, graph={"nodes": []}, created_by="suite"
    )
    return workflow, version


async def _running_runs(storage: Storage, count: int) -> list[WorkflowRun]:
    workflow, version = await _workflow(storage, "runs")
    runs = []
    for _ in range(count):
        run = await storage.workflows.create_run(
            workflow.id, workflow_version_id=version.id, triggered_by="suite"
        )
        runs.append(
            await storage.workflows.transition_run(run.id, RunStatus.RUNNING, actor="suite")
        )
    return runs


async def _candidates(storage: Storage, count: int) -> set[uuid.UUID]:
    workflow, version = await _workflow(storage, "remediation")
    run = await storage.workflows.create_run(
        workflow.id, workflow_version_id=version.id, triggered_by="suite"
    )
    made = set()
    for n in range(count):
        candidate = await storage.remediations.create_candidate(
            workflow_id=workflow.id,
            workflow_version_id=version.id,
            run_id=run.id,
            fingerprint=f"fp-{n}",
            version_checksum=version.checksum,
        )
        made.add(candidate.id)
    return made


async def _subscription(storage: Storage) -> uuid.UUID:
    workflow, version = await _workflow(storage, "listener")
    spec = ListenerSubscriptionSpec(node_name="listen", platform="slack", bot_identity_key="bot")
    (subscription,) = await storage.listeners.sync_subscriptions(workflow.id, version.id, [spec])
    return subscription.id


# --- many tasks on one Storage --------------------------------------------------------------------


@pytest.mark.asyncio
async def test_tasks_race_on_version_numbers(storage: Storage) -> None:
    workflow, _ = await _workflow(storage)
    made = await asyncio.gather(
        *(
            storage.workflows.create_version(workflow.id, graph={"n": n}, created_by="t")
            for n in range(TASKS)
        )
    )
    numbers = sorted(v.version for v in made)
    assert numbers == list(range(2, TASKS + 2))
    listed = await storage.workflows.list_versions(workflow.id)
    assert [v.version for v in listed] == list(range(1, TASKS + 2))


@pytest.mark.asyncio
async def test_tasks_race_on_step_appends_across_executions(storage: Storage) -> None:
    for eid in ("race-a", "race-b"):
        await storage.history.start_run(execution_id=eid, workflow_id="wf")
    steps = await asyncio.gather(
        *(
            storage.history.append_step("race-a" if n % 2 else "race-b", {"n": n})
            for n in range(TASKS * 2)
        )
    )
    assert sorted(s.index for s in steps) == sorted(list(range(TASKS)) * 2)
    for eid in ("race-a", "race-b"):
        record = await storage.history.get_history(eid)
        assert [s.index for s in record.steps] == list(range(TASKS))


@pytest.mark.asyncio
async def test_tasks_race_on_chat_ordinals(storage: Storage) -> None:
    ctx = ChatContext()
    await storage.chatkit.save_thread(chat_thread("race-thread"), ctx)
    await asyncio.gather(
        *(
            storage.chatkit.add_thread_item(
                "race-thread", user_message(f"r-{n:03d}", "race-thread", str(n)), ctx
            )
            for n in range(TASKS)
        )
    )
    assert await chat_ordinals(storage, "race-thread") == list(range(TASKS))


@pytest.mark.asyncio
async def test_tasks_race_on_remediation_claims(storage: Storage) -> None:
    made = await _candidates(storage, 10)
    claims = await asyncio.gather(
        *(storage.remediations.claim_next(worker_id=f"w{n}") for n in range(TASKS))
    )
    won = [c.id for c in claims if c is not None]
    assert len(won) == len(set(won)) == 10
    assert set(won) == made
    assert all(c.attempt_count == 1 for c in claims if c is not None)


@pytest.mark.asyncio
async def test_tasks_race_on_listener_claims(storage: Storage) -> None:
    subscription_id = await _subscription(storage)
    leases = await asyncio.gather(
        *(
            storage.listeners.claim_subscription(
                subscription_id, runtime_id=f"rt-{n}", lease_seconds=600
            )
            for n in range(TASKS)
        )
    )
    winners = [lease.assigned_runtime for lease in leases if lease is not None]
    assert len(winners) == 1
    stored = await storage.listeners.get_subscription(subscription_id)
    assert stored.assigned_runtime == winners[0]


@pytest.mark.asyncio
async def test_tasks_race_on_run_transitions(storage: Storage) -> None:
    (run,) = await _running_runs(storage, 1)
    targets = [RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED]

    async def finish(n: int) -> RunStatus | None:
        target = targets[n % 3]
        try:
            await storage.workflows.transition_run(
                run.id, target, actor=f"t{n}", error="x" if target is RunStatus.FAILED else None
            )
        except InvalidTransitionError:
            return None
        return target

    results = await asyncio.gather(*(finish(n) for n in range(TASKS)))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert (await storage.workflows.get_run(run.id)).status is winners[0]


@pytest.mark.asyncio
async def test_tasks_race_on_cron_slot(storage: Storage) -> None:
    workflow, _ = await _workflow(storage, "cron")
    await storage.triggers.set_cron_config(workflow.id, {"expression": "* * * * *"})
    first = await asyncio.gather(
        *(
            storage.triggers.advance_cron_dispatch(workflow.id, expected=None, new=SLOT0)
            for _ in range(TASKS)
        )
    )
    assert first.count(True) == 1
    nxt = SLOT0 + timedelta(minutes=1)
    second = await asyncio.gather(
        *(
            storage.triggers.advance_cron_dispatch(workflow.id, expected=SLOT0, new=nxt)
            for _ in range(TASKS)
        )
    )
    assert second.count(True) == 1
    assert await storage.triggers.get_last_dispatched(workflow.id) == nxt


# --- several OS processes on one namespace --------------------------------------------------------


@pytest.fixture(scope="module")
def process_pool() -> Iterator[ProcessPoolExecutor]:
    """Worker processes started with ``spawn`` (no inherited connections or event loops)."""
    with ProcessPoolExecutor(
        max_workers=PROCESSES, mp_context=multiprocessing.get_context("spawn")
    ) as pool:
        yield pool


def _race(
    pool: ProcessPoolExecutor, settings: StorageSettings, kind: str, args: dict[str, Any]
) -> list[list[Any]]:
    payload = settings_payload(settings)
    # Warm the workers first so imports do not decide who runs first, then line them up.
    list(pool.map(warm_up, range(PROCESSES)))
    args = {**args, "start_at": time.time() + 0.5}
    futures = [pool.submit(race, payload, kind, worker, args) for worker in range(PROCESSES)]
    return [f.result(timeout=120) for f in futures]


pytestmark_processes = pytest.mark.orcheo_capability("cross_process_atomic")


@pytestmark_processes
@pytest.mark.asyncio
async def test_processes_race_on_version_numbers(
    storage: Storage, provisioned_settings: StorageSettings, process_pool: ProcessPoolExecutor
) -> None:
    workflow, _ = await _workflow(storage)
    results = await asyncio.to_thread(
        _race,
        process_pool,
        provisioned_settings,
        "versions",
        {"workflow_id": str(workflow.id), "count": 8},
    )
    numbers = sorted(n for result in results for n in result)
    assert numbers == list(range(2, 2 + 8 * PROCESSES))
    listed = await storage.workflows.list_versions(workflow.id)
    assert [v.version for v in listed] == list(range(1, 2 + 8 * PROCESSES))


@pytestmark_processes
@pytest.mark.asyncio
async def test_processes_race_on_step_appends(
    storage: Storage, provisioned_settings: StorageSettings, process_pool: ProcessPoolExecutor
) -> None:
    await storage.history.start_run(execution_id="proc-exec", workflow_id="wf")
    results = await asyncio.to_thread(
        _race,
        process_pool,
        provisioned_settings,
        "steps",
        {"execution_id": "proc-exec", "count": 10},
    )
    assert sorted(i for result in results for i in result) == list(range(10 * PROCESSES))
    record = await storage.history.get_history("proc-exec")
    assert [s.index for s in record.steps] == list(range(10 * PROCESSES))


@pytestmark_processes
@pytest.mark.asyncio
async def test_processes_race_on_chat_ordinals(
    storage: Storage, provisioned_settings: StorageSettings, process_pool: ProcessPoolExecutor
) -> None:
    await storage.chatkit.save_thread(chat_thread("proc-thread"), ChatContext())
    results = await asyncio.to_thread(
        _race,
        process_pool,
        provisioned_settings,
        "chat",
        {"thread_id": "proc-thread", "count": 8},
    )
    made = [i for result in results for i in result]
    assert len(made) == 8 * PROCESSES
    assert await chat_ordinals(storage, "proc-thread") == list(range(8 * PROCESSES))


@pytestmark_processes
@pytest.mark.asyncio
async def test_processes_race_on_remediation_claims(
    storage: Storage, provisioned_settings: StorageSettings, process_pool: ProcessPoolExecutor
) -> None:
    made = await _candidates(storage, 15)
    results = await asyncio.to_thread(_race, process_pool, provisioned_settings, "remediation", {})
    claimed = [uuid.UUID(c) for result in results for c in result]
    duplicates = [c for c, n in Counter(claimed).items() if n > 1]
    assert duplicates == [], f"claimed twice: {duplicates}"
    assert set(claimed) == made


@pytestmark_processes
@pytest.mark.asyncio
async def test_processes_race_on_listener_claim(
    storage: Storage, provisioned_settings: StorageSettings, process_pool: ProcessPoolExecutor
) -> None:
    subscription_id = await _subscription(storage)
    results = await asyncio.to_thread(
        _race,
        process_pool,
        provisioned_settings,
        "listener",
        {"subscription_id": str(subscription_id), "count": 5},
    )
    winners = [worker for worker, result in enumerate(results) if any(result)]
    assert len(winners) == 1, f"workers holding the lease: {winners}"
    stored = await storage.listeners.get_subscription(subscription_id)
    assert stored.assigned_runtime == f"proc-{winners[0]}"


@pytestmark_processes
@pytest.mark.asyncio
async def test_processes_race_on_run_transitions(
    storage: Storage, provisioned_settings: StorageSettings, process_pool: ProcessPoolExecutor
) -> None:
    runs = await _running_runs(storage, 8)
    results = await asyncio.to_thread(
        _race,
        process_pool,
        provisioned_settings,
        "runs",
        {"run_ids": [str(r.id) for r in runs]},
    )
    won = Counter(r for result in results for r in result)
    assert sorted(won) == sorted(str(r.id) for r in runs)
    assert set(won.values()) == {1}
    for run in runs:
        assert (await storage.workflows.get_run(run.id)).status in {
            RunStatus.SUCCEEDED,
            RunStatus.FAILED,
            RunStatus.CANCELLED,
        }


@pytestmark_processes
@pytest.mark.asyncio
async def test_processes_race_on_cron_slots(
    storage: Storage, provisioned_settings: StorageSettings, process_pool: ProcessPoolExecutor
) -> None:
    workflow, _ = await _workflow(storage, "cron")
    await storage.triggers.set_cron_config(workflow.id, {"expression": "* * * * *"})
    slots = [(SLOT0 + timedelta(minutes=n)).isoformat() for n in range(10)]
    results = await asyncio.to_thread(
        _race,
        process_pool,
        provisioned_settings,
        "cron",
        {"workflow_id": str(workflow.id), "slots": slots},
    )
    won = Counter(s for result in results for s in result)
    assert sorted(won) == sorted(slots), "every slot dispatched"
    assert set(won.values()) == {1}, "a slot dispatched twice"
    last = await storage.triggers.get_last_dispatched(workflow.id)
    assert last == datetime.fromisoformat(slots[-1])


@pytestmark_processes
@pytest.mark.asyncio
async def test_processes_race_on_token_usage(
    storage: Storage, provisioned_settings: StorageSettings, process_pool: ProcessPoolExecutor
) -> None:
    token = build(
        ServiceToken, identifier="proc-token", secret_hash=hash_secret("proc"), issued_at=SLOT0
    )
    await storage.service_tokens.create(token)
    results = await asyncio.to_thread(
        _race, process_pool, provisioned_settings, "usage", {"token_id": "proc-token", "count": 10}
    )
    await storage.service_tokens.flush_usage()
    stored = await storage.service_tokens.get_by_id("proc-token")
    assert stored.use_count == sum(r[0] for r in results) == 10 * PROCESSES


@pytestmark_processes
@pytest.mark.asyncio
async def test_processes_race_on_checkpoint_versions_and_best(
    storage: Storage, provisioned_settings: StorageSettings, process_pool: ProcessPoolExecutor
) -> None:
    results = await asyncio.to_thread(
        _race,
        process_pool,
        provisioned_settings,
        "checkpoints",
        {"workflow_id": "wf-proc", "count": 6},
    )
    versions = sorted(v for result in results for v in result)
    assert versions == list(range(1, 6 * PROCESSES + 1))
    listed = await storage.agentensor.list_checkpoints("wf-proc", limit=100)
    assert len([c for c in listed if c.is_best]) == 1
