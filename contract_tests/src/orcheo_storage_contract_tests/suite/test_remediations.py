"""Contract: remediation candidates (DOMAIN.md section 2) - idempotent create, atomic claims."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule
from orcheo_storage.clock import ManualClock, use_clock
from orcheo_storage.errors import (
    InvalidTransitionError,
    RemediationNotFoundError,
    ValidationError,
    WorkflowNotFoundError,
)
from orcheo_storage.jsoncodec import normalise_json
from orcheo_storage.models.remediations import RemediationCandidate, RemediationStatus
from orcheo_storage.models.workflows import WorkflowVersion
from orcheo_storage.storage import Storage

from orcheo_storage_contract_tests._runner import (
    AsyncStateMachine,
    ProvisionStorage,
    run,
    run_machine,
)
from orcheo_storage_contract_tests._support import assert_utc, make_version, raises
from orcheo_storage_contract_tests.strategies import hostile_json, hostile_text, json_objects

pytestmark = pytest.mark.orcheo_subsystem("remediations")

R = RemediationStatus
ALLOWED = {
    R.PENDING: {R.CLAIMED, R.DISMISSED},
    R.CLAIMED: {R.FIXED, R.NOTE_ONLY, R.FAILED, R.DISMISSED, R.PENDING},
    R.FIXED: set(),
    R.NOTE_ONLY: set(),
    R.FAILED: {R.PENDING},
    R.DISMISSED: set(),
}
"""The remediation state machine, written out independently of the core rules."""


async def candidate(
    storage: Storage, version: WorkflowVersion, fingerprint: str = "fp", **kwargs: Any
) -> RemediationCandidate:
    return await storage.remediations.create_candidate(
        workflow_id=version.workflow_id,
        workflow_version_id=version.id,
        run_id=kwargs.pop("run_id", uuid.uuid4()),
        fingerprint=fingerprint,
        version_checksum=version.checksum,
        **kwargs,
    )


async def test_create_and_get(storage: Storage) -> None:
    version = await make_version(storage)
    run_id = uuid.uuid4()
    created = await candidate(
        storage, version, run_id=run_id, context={"trace": [1, 2]}, classification="timeout"
    )
    assert created.status is R.PENDING
    assert created.attempt_count == 0
    assert created.run_id == run_id
    assert created.version_checksum == version.checksum
    assert created.context == {"trace": [1, 2]}
    assert created.classification == "timeout"
    assert created.claimed_by is None
    assert_utc(created.created_at)
    assert await storage.remediations.get_candidate(created.id) == created
    missing = uuid.uuid4()
    with raises(RemediationNotFoundError, f"remediation candidate not found: {missing}"):
        await storage.remediations.get_candidate(missing)
    with raises(WorkflowNotFoundError, f"workflow not found: {missing}"):
        await storage.remediations.create_candidate(
            workflow_id=missing,
            workflow_version_id=version.id,
            run_id=run_id,
            fingerprint="other",
            version_checksum="x",
        )


async def test_create_is_idempotent_while_open(storage: Storage) -> None:
    version = await make_version(storage)
    first = await candidate(storage, version, "same")
    assert (await candidate(storage, version, "same")).id == first.id
    claimed = await storage.remediations.claim_next(worker_id="w1")
    assert claimed is not None
    assert claimed.id == first.id
    again = await candidate(storage, version, "same")
    assert again.id == first.id
    assert again.status is R.CLAIMED
    await storage.remediations.transition_candidate(first.id, R.FIXED, action="patched")
    fresh = await candidate(storage, version, "same")
    assert fresh.id != first.id
    assert fresh.status is R.PENDING
    assert len(await storage.remediations.list_candidates()) == 2


async def test_racing_creates_with_one_fingerprint_make_one(storage: Storage) -> None:
    version = await make_version(storage)
    made = await asyncio.gather(*(candidate(storage, version, "dup") for _ in range(10)))
    assert len({c.id for c in made}) == 1
    assert len(await storage.remediations.list_candidates()) == 1


async def test_a_candidate_created_without_an_actor_is_audited_as_system(
    storage: Storage,
) -> None:
    """The protocol's default actor is "system" (the detector that files candidates)."""
    made = await candidate(storage, await make_version(storage), "no-actor")
    assert [event.actor for event in made.audit_log] == ["system"]
    stored = await storage.remediations.get_candidate(made.id)
    assert [event.actor for event in stored.audit_log] == ["system"]


async def test_claim_next_takes_the_oldest_pending(storage: Storage) -> None:
    version = await make_version(storage)
    made = [await candidate(storage, version, f"fp{i}") for i in range(3)]
    order = sorted(made, key=lambda c: (c.created_at, str(c.id)))
    first = await storage.remediations.claim_next(worker_id="w1")
    assert first is not None
    assert first.id == order[0].id
    assert first.status is R.CLAIMED
    assert first.claimed_by == "w1"
    assert assert_utc(first.claimed_at) >= first.created_at
    assert first.attempt_count == 1
    second = await storage.remediations.claim_next(worker_id="w2")
    assert second is not None
    assert second.id == order[1].id
    third = await storage.remediations.claim_next(worker_id="w3")
    assert third is not None
    assert await storage.remediations.claim_next(worker_id="w4") is None


async def test_claim_and_list_break_created_at_ties_by_id(storage: Storage) -> None:
    """Candidates created at one instant: claims take them in id order, lists newest first
    by (created_at, id) descending, so the greater id comes first."""
    version = await make_version(storage)
    clock = ManualClock(datetime(2031, 5, 6, 7, 8, 9, 123457, tzinfo=UTC))
    with use_clock(clock):
        made = [await candidate(storage, version, f"tie{i}") for i in range(4)]
        assert len({c.created_at for c in made}) == 1
        by_id = sorted(made, key=lambda c: str(c.id))
        listed = await storage.remediations.list_candidates()
        assert [c.id for c in listed] == [c.id for c in reversed(by_id)]
        claimed = [await storage.remediations.claim_next(worker_id="w") for _ in made]
        assert [c.id if c else None for c in claimed] == [c.id for c in by_id]


async def test_attempt_cap(storage: Storage) -> None:
    version = await make_version(storage)
    made = await candidate(storage, version)
    remediations = storage.remediations
    for attempt in (1, 2):
        claimed = await remediations.claim_next(worker_id="w", max_attempts=2)
        assert claimed is not None
        assert claimed.attempt_count == attempt
        failed = await remediations.transition_candidate(made.id, R.FAILED, last_error="nope")
        assert failed.last_error == "nope"
        retried = await remediations.transition_candidate(made.id, R.PENDING)
        assert retried.claimed_by is None
        assert retried.claimed_at is None
    assert await remediations.claim_next(worker_id="w", max_attempts=2) is None
    third = await remediations.claim_next(worker_id="w", max_attempts=3)
    assert third is not None
    assert third.attempt_count == 3
    with raises(ValidationError, "max_attempts: max_attempts must be at least 1"):
        await remediations.claim_next(worker_id="w", max_attempts=0)


@pytest.mark.parametrize("start", [R.PENDING, R.CLAIMED, R.FAILED, R.FIXED, R.DISMISSED])
@pytest.mark.parametrize("target", list(R))
async def test_transition_table(
    storage: Storage, start: RemediationStatus, target: RemediationStatus
) -> None:
    version = await make_version(storage)
    made = await candidate(storage, version)
    paths: dict[RemediationStatus, list[str]] = {
        R.PENDING: [],
        R.CLAIMED: ["claim"],
        R.FAILED: ["claim", R.FAILED],
        R.FIXED: ["claim", R.FIXED],
        R.DISMISSED: [R.DISMISSED],
    }
    for step in paths[start]:
        if step == "claim":
            assert await storage.remediations.claim_next(worker_id="w")
        else:
            await storage.remediations.transition_candidate(made.id, step)
    current = await storage.remediations.get_candidate(made.id)
    assert current.status is start
    if target in ALLOWED[start]:
        moved = await storage.remediations.transition_candidate(
            made.id, target, developer_note="note", artifacts={"diff": "x"}
        )
        assert moved.status is target
        assert moved.developer_note == "note"
        assert moved.artifacts == {"diff": "x"}
        assert await storage.remediations.get_candidate(made.id) == moved
    else:
        message = (
            f"cannot move remediation candidate {made.id} from {start.value!r} to {target.value!r}"
        )
        with raises(InvalidTransitionError, message):
            await storage.remediations.transition_candidate(made.id, target)
        assert await storage.remediations.get_candidate(made.id) == current


async def test_list_filters_newest_first(storage: Storage) -> None:
    v1 = await make_version(storage)
    v2 = await make_version(storage)
    made = [await candidate(storage, v1 if i % 2 else v2, f"fp{i}") for i in range(6)]
    await storage.remediations.transition_candidate(made[0].id, R.DISMISSED)
    newest_first = sorted(made, key=lambda c: (c.created_at, str(c.id)), reverse=True)
    listed = await storage.remediations.list_candidates()
    assert [c.id for c in listed] == [c.id for c in newest_first]
    of_v1 = await storage.remediations.list_candidates(workflow_id=v1.workflow_id)
    assert [c.id for c in of_v1] == [c.id for c in newest_first if c.workflow_id == v1.workflow_id]
    pending = await storage.remediations.list_candidates(status="pending", limit=2)
    assert [c.id for c in pending] == [c.id for c in newest_first if c.id != made[0].id][:2]
    dismissed = await storage.remediations.list_candidates(status=R.DISMISSED)
    assert [c.id for c in dismissed] == [made[0].id]
    with raises(ValidationError, "limit: limit must be an integer between 1 and 10000"):
        await storage.remediations.list_candidates(limit=0)


async def test_racing_workers_never_share_a_candidate(storage: Storage) -> None:
    version = await make_version(storage)
    made = [await candidate(storage, version, f"fp{i}") for i in range(5)]
    results = await asyncio.gather(
        *(storage.remediations.claim_next(worker_id=f"w{i}") for i in range(12))
    )
    claimed = [r for r in results if r is not None]
    assert len(claimed) == 5
    assert {c.id for c in claimed} == {c.id for c in made}
    for c in claimed:
        stored = await storage.remediations.get_candidate(c.id)
        assert stored.claimed_by == c.claimed_by
        assert stored.attempt_count == 1


async def test_returned_candidates_are_copies(storage: Storage) -> None:
    version = await make_version(storage)
    made = await candidate(storage, version, context={"k": [1]})
    made.context["k"].append(2)
    assert (await storage.remediations.get_candidate(made.id)).context == {"k": [1]}
    listed = (await storage.remediations.list_candidates())[0]
    listed.context.clear()
    assert (await storage.remediations.get_candidate(made.id)).context == {"k": [1]}


# --- properties --------------------------------------------------------------------------------


@given(context=json_objects, artifacts=json_objects, fingerprint=st.text(min_size=1, max_size=30))
def test_documents_round_trip(
    provision_storage: ProvisionStorage,
    context: dict[str, Any],
    artifacts: dict[str, Any],
    fingerprint: str,
) -> None:
    fingerprint = fingerprint.replace("\x00", "").encode("utf-8", "replace").decode() or "f"

    async def body() -> None:
        async with provision_storage() as storage:
            version = await make_version(storage)
            made = await candidate(storage, version, fingerprint, context=context)
            assert repr(made.context) == repr(normalise_json(context))
            assert await storage.remediations.get_candidate(made.id) == made
            claimed = await storage.remediations.claim_next(worker_id="w")
            assert claimed is not None
            fixed = await storage.remediations.transition_candidate(
                made.id, R.FIXED, artifacts=artifacts
            )
            assert await storage.remediations.get_candidate(made.id) == fixed
            assert fixed.artifacts == normalise_json(artifacts)

    run(body())


@given(
    poison=st.one_of(
        hostile_json().map(lambda d: ("context", d)),
        hostile_text().map(lambda t: ("fingerprint", t)),
    )
)
def test_hostile_candidates_are_rejected_and_nothing_written(
    provision_storage: ProvisionStorage, poison: tuple[str, Any]
) -> None:
    where, bad = poison

    async def body() -> None:
        async with provision_storage() as storage:
            version = await make_version(storage)
            kwargs: dict[str, Any] = {"context": {}, "fingerprint": "fp", where: bad}
            with pytest.raises(ValidationError):
                await candidate(storage, version, **kwargs)
            assert await storage.remediations.list_candidates() == []

    run(body())


# --- state machine -----------------------------------------------------------------------------


class RemediationQueueMachine(AsyncStateMachine):
    """Creates candidates over a few fingerprints, claims them and moves them on.

    Model: candidate id -> (fingerprint, status, attempts, created key).
    """

    def __init__(self, provision: ProvisionStorage) -> None:
        super().__init__(provision)
        self.version = self.call(make_version(self.storage))
        self.model: dict[uuid.UUID, dict[str, Any]] = {}

    @rule(fingerprint=st.sampled_from(["a", "b", "c", "d"]))
    def create(self, fingerprint: str) -> None:
        open_ones = [
            cid
            for cid, row in self.model.items()
            if row["fp"] == fingerprint and row["status"] in (R.PENDING, R.CLAIMED)
        ]
        made = self.call(candidate(self.storage, self.version, fingerprint))
        if open_ones:
            # Usually one; re-queuing a failed candidate (failed -> pending) can leave two
            # open ones, and the contract only promises that one of them is returned.
            assert made.id in open_ones
            return
        assert made.id not in self.model
        self.model[made.id] = {
            "fp": fingerprint,
            "status": R.PENDING,
            "attempts": 0,
            "key": (made.created_at, str(made.id)),
        }

    @rule(cap=st.one_of(st.none(), st.integers(min_value=1, max_value=3)))
    def claim_next(self, cap: int | None) -> None:
        eligible = [
            cid
            for cid, row in self.model.items()
            if row["status"] is R.PENDING and (cap is None or row["attempts"] < cap)
        ]
        got = self.call(self.storage.remediations.claim_next(worker_id="w", max_attempts=cap))
        if not eligible:
            assert got is None
            return
        oldest = min(eligible, key=lambda cid: self.model[cid]["key"])
        assert got is not None
        assert got.id == oldest
        row = self.model[oldest]
        row["status"] = R.CLAIMED
        row["attempts"] += 1
        assert got.attempt_count == row["attempts"]

    @precondition(lambda self: bool(self.model))
    @rule(
        data=st.data(),
        status=st.sampled_from([R.FIXED, R.NOTE_ONLY, R.FAILED, R.DISMISSED, R.PENDING]),
    )
    def move(self, data: st.DataObject, status: RemediationStatus) -> None:
        cid = data.draw(st.sampled_from(list(self.model)))
        row = self.model[cid]
        call = self.storage.remediations.transition_candidate(cid, status)
        if status in ALLOWED[row["status"]]:
            assert self.call(call).status is status
            row["status"] = status
        else:
            with pytest.raises(InvalidTransitionError):
                self.call(call)

    @invariant()
    def queue_matches_model(self) -> None:
        listed = self.call(self.storage.remediations.list_candidates(limit=10_000))
        expected = sorted(self.model, key=lambda cid: self.model[cid]["key"], reverse=True)
        assert [c.id for c in listed] == expected
        for c in listed:
            assert c.status is self.model[c.id]["status"]
            assert c.attempt_count == self.model[c.id]["attempts"]


def test_remediation_queue_state_machine(provision_storage: ProvisionStorage) -> None:
    run_machine(RemediationQueueMachine, provision_storage)
