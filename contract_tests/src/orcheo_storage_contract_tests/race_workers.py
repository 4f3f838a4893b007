"""Race workers that run in separate OS processes (multiprocessing ``spawn`` context).

Each worker opens its own :class:`~orcheo_storage.storage.Storage` from a settings payload
(see :func:`orcheo_storage_contract_tests._runner.settings_payload`), does one kind of
contended operation several times and returns plain JSON data for the parent to check.
The module is importable on its own so a spawned child can find the functions.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
import warnings
from datetime import datetime
from typing import Any

from orcheo_storage.errors import InvalidTransitionError
from orcheo_storage.models.workflows import RunStatus
from orcheo_storage.protocols.backend import Subsystem
from orcheo_storage.storage import Storage, open_storage

from orcheo_storage_contract_tests._runner import settings_from_payload

RACES = (
    "versions",
    "steps",
    "chat",
    "remediation",
    "listener",
    "runs",
    "cron",
    "usage",
    "checkpoints",
)


def warm_up(_: int) -> int:
    """Nothing but the import of this module (done by unpickling); returns the process id."""
    return os.getpid()


def race(payload: dict[str, Any], kind: str, worker: int, args: dict[str, Any]) -> list[Any]:
    """Run one race ``kind`` as worker number ``worker`` and return what it won or made.

    Args:
        payload: the storage settings of the shared namespace (secrets included).
        kind: one of :data:`RACES`.
        worker: this worker's number (used for ids, so results are attributable).
        args: race parameters prepared by the parent (ids as strings, counts, start time).

    Returns:
        A JSON-friendly list: version numbers, step indexes, claimed ids, won runs, ...
    """
    with warnings.catch_warnings():
        # openai-chatkit warns about its widget classes when first imported
        warnings.simplefilter("ignore", DeprecationWarning)
        return asyncio.run(_race(payload, kind, worker, args))


async def _race(payload: dict[str, Any], kind: str, worker: int, args: dict[str, Any]) -> list[Any]:
    settings = settings_from_payload(payload)
    async with open_storage(settings) as storage:
        start_at = float(args.get("start_at", 0.0))
        # A shared start time lines the processes up despite their different start-up costs.
        delay = start_at - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        return await _RUNNERS[kind](storage, worker, args)


async def _versions(storage: Storage, worker: int, args: dict[str, Any]) -> list[Any]:
    workflow_id = uuid.UUID(args["workflow_id"])
    numbers = []
    for n in range(int(args["count"])):
        version = await storage.workflows.create_version(
            workflow_id, graph={"worker": worker, "n": n}, created_by=f"proc-{worker}"
        )
        numbers.append(version.version)
    return numbers


async def _steps(storage: Storage, worker: int, args: dict[str, Any]) -> list[Any]:
    indexes = []
    for n in range(int(args["count"])):
        step = await storage.history.append_step(args["execution_id"], {"w": worker, "n": n})
        indexes.append(step.index)
    return indexes


async def _chat(storage: Storage, worker: int, args: dict[str, Any]) -> list[Any]:
    from orcheo_storage.models.chat import ChatContext

    from orcheo_storage_contract_tests.chat_objects import user_message

    thread_id = args["thread_id"]
    made = []
    for n in range(int(args["count"])):
        item_id = f"p{worker}-{n:03d}"
        await storage.chatkit.add_thread_item(
            thread_id, user_message(item_id, thread_id, item_id), ChatContext()
        )
        made.append(item_id)
    return made


async def _remediation(storage: Storage, worker: int, args: dict[str, Any]) -> list[Any]:
    claimed: list[Any] = []
    while True:
        candidate = await storage.remediations.claim_next(worker_id=f"proc-{worker}")
        if candidate is None:
            return claimed
        claimed.append(str(candidate.id))


async def _listener(storage: Storage, worker: int, args: dict[str, Any]) -> list[Any]:
    subscription_id = uuid.UUID(args["subscription_id"])
    wins = []
    for _ in range(int(args["count"])):
        lease = await storage.listeners.claim_subscription(
            subscription_id, runtime_id=f"proc-{worker}", lease_seconds=600
        )
        wins.append(lease is not None)
    return wins


async def _runs(storage: Storage, worker: int, args: dict[str, Any]) -> list[Any]:
    target = [RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED][worker % 3]
    won = []
    for run_id in args["run_ids"]:
        try:
            await storage.workflows.transition_run(
                uuid.UUID(run_id),
                target,
                actor=f"proc-{worker}",
                error="lost race" if target is RunStatus.FAILED else None,
            )
        except InvalidTransitionError:
            continue
        won.append(run_id)
    return won


async def _cron(storage: Storage, worker: int, args: dict[str, Any]) -> list[Any]:
    workflow_id = uuid.UUID(args["workflow_id"])
    won = []
    previous: datetime | None = None
    for slot_text in args["slots"]:
        slot = datetime.fromisoformat(slot_text)
        if await storage.triggers.advance_cron_dispatch(workflow_id, expected=previous, new=slot):
            won.append(slot_text)
        previous = slot
    return won


async def _usage(storage: Storage, worker: int, args: dict[str, Any]) -> list[Any]:
    count = int(args["count"])
    for _ in range(count):
        await storage.service_tokens.record_usage(args["token_id"], ip=f"10.0.0.{worker}")
    await storage.service_tokens.flush_usage()
    return [count]


async def _checkpoints(storage: Storage, worker: int, args: dict[str, Any]) -> list[Any]:
    versions = []
    for n in range(int(args["count"])):
        checkpoint = await storage.agentensor.record_checkpoint(
            workflow_id=args["workflow_id"], is_best=n % 2 == 0, metrics={"worker": worker}
        )
        versions.append(checkpoint.config_version)
    return versions


async def chat_ordinals(storage: Storage, thread_id: str) -> list[int]:
    """The stored ordinals of a thread's items, through the bulk-export backdoor."""
    bulk = storage.session_for(Subsystem.CHATKIT).bulk()
    ordinals: list[int] = []
    async for batch in bulk.export_rows("chat_items"):
        for row in batch:
            if row["thread_id"] == thread_id:
                value = row["ordinal"]
                assert isinstance(value, int)
                ordinals.append(value)
    return sorted(ordinals)


_RUNNERS = {
    "versions": _versions,
    "steps": _steps,
    "chat": _chat,
    "remediation": _remediation,
    "listener": _listener,
    "runs": _runs,
    "cron": _cron,
    "usage": _usage,
    "checkpoints": _checkpoints,
}
