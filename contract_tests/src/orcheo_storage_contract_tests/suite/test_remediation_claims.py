"""Contract: the attempt cap of ``claim_next`` (DOMAIN.md section 2), found by mutation testing.

``claim_next(max_attempts=n)`` claims the oldest *pending* candidate that has had fewer than
``n`` attempts: a capped candidate is passed over, not a reason to claim nothing, and the cap
only applies to the call that gives it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from orcheo_storage.clock import ManualClock, use_clock
from orcheo_storage.models.remediations import RemediationCandidate, RemediationStatus
from orcheo_storage.models.workflows import WorkflowVersion
from orcheo_storage.storage import Storage

from orcheo_storage_contract_tests._support import make_version

pytestmark = pytest.mark.orcheo_subsystem("remediations")

R = RemediationStatus


async def _candidate(
    storage: Storage, version: WorkflowVersion, fingerprint: str
) -> RemediationCandidate:
    return await storage.remediations.create_candidate(
        workflow_id=version.workflow_id,
        workflow_version_id=version.id,
        run_id=uuid.uuid4(),
        fingerprint=fingerprint,
        version_checksum=version.checksum,
    )


async def _fail_once(storage: Storage, worker: str) -> RemediationCandidate:
    claimed = await storage.remediations.claim_next(worker_id=worker)
    assert claimed is not None
    await storage.remediations.transition_candidate(claimed.id, R.FAILED, last_error="no")
    return await storage.remediations.transition_candidate(claimed.id, R.PENDING)


async def test_claim_next_passes_over_a_capped_candidate(storage: Storage) -> None:
    clock = ManualClock(datetime(2031, 3, 4, 5, 6, 7, 891011, tzinfo=UTC))
    with use_clock(clock):
        version = await make_version(storage)
        old = await _candidate(storage, version, "old")
        clock.advance(1)
        # the oldest has been tried twice before the younger one exists
        assert (await _fail_once(storage, "w0")).attempt_count == 1
        clock.advance(1)
        assert (await _fail_once(storage, "w0")).attempt_count == 2
        clock.advance(1)
        young = await _candidate(storage, version, "young")
        clock.advance(1)
        # capped at 2: the oldest is passed over and the younger one is claimed
        first = await storage.remediations.claim_next(worker_id="w1", max_attempts=2)
        assert first is not None
        assert (first.id, first.attempt_count, first.claimed_by) == (young.id, 1, "w1")
        # nothing else is claimable under the cap, and the capped one stays pending
        assert await storage.remediations.claim_next(worker_id="w2", max_attempts=2) is None
        assert (await storage.remediations.get_candidate(old.id)).status is R.PENDING
        # a higher cap, or none, reaches it
        second = await storage.remediations.claim_next(worker_id="w3", max_attempts=3)
        assert second is not None
        assert (second.id, second.attempt_count) == (old.id, 3)


async def test_the_cap_counts_attempts_not_candidates(storage: Storage) -> None:
    clock = ManualClock(datetime(2031, 3, 4, 5, 6, 7, tzinfo=UTC))
    with use_clock(clock):
        version = await make_version(storage)
        made = []
        for i in range(3):
            made.append(await _candidate(storage, version, f"fp{i}"))
            clock.advance(1)
        # max_attempts=1: every fresh candidate (0 attempts) is claimable once, oldest first
        for expected in made:
            got = await storage.remediations.claim_next(worker_id="w", max_attempts=1)
            assert got is not None
            assert (got.id, got.attempt_count) == (expected.id, 1)
        assert await storage.remediations.claim_next(worker_id="w", max_attempts=1) is None
        # back to pending after one attempt: capped at 1, free without a cap
        await storage.remediations.transition_candidate(made[1].id, R.PENDING)
        assert await storage.remediations.claim_next(worker_id="w", max_attempts=1) is None
        again = await storage.remediations.claim_next(worker_id="w")
        assert again is not None
        assert (again.id, again.attempt_count) == (made[1].id, 2)
