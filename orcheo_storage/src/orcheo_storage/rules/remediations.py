"""Remediation candidates: creation and the remediation state machine."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from orcheo_storage.errors import InvalidTransitionError
from orcheo_storage.models.common import build
from orcheo_storage.models.remediations import RemediationCandidate, RemediationStatus
from orcheo_storage.rules.states import parse_state
from orcheo_storage.rules.workflows import audit

REMEDIATION_TRANSITIONS: dict[RemediationStatus, frozenset[RemediationStatus]] = {
    RemediationStatus.PENDING: frozenset({RemediationStatus.CLAIMED, RemediationStatus.DISMISSED}),
    RemediationStatus.CLAIMED: frozenset(
        {
            RemediationStatus.FIXED,
            RemediationStatus.NOTE_ONLY,
            RemediationStatus.FAILED,
            RemediationStatus.DISMISSED,
            RemediationStatus.PENDING,
        }
    ),
    RemediationStatus.FIXED: frozenset(),
    RemediationStatus.NOTE_ONLY: frozenset(),
    RemediationStatus.FAILED: frozenset({RemediationStatus.PENDING}),
    RemediationStatus.DISMISSED: frozenset(),
}
OPEN_STATES = frozenset({RemediationStatus.PENDING, RemediationStatus.CLAIMED})


def new_candidate(
    *,
    workflow_id: uuid.UUID,
    workflow_version_id: uuid.UUID,
    run_id: uuid.UUID,
    fingerprint: str,
    version_checksum: str,
    now: datetime,
    context: dict[str, Any] | None = None,
    classification: str | None = None,
    graph_format: str | None = None,
    actor: str = "system",
) -> RemediationCandidate:
    """A pending candidate, its creation audited (as Orcheo's ``remediation_created``)."""
    return build(
        RemediationCandidate,
        id=uuid.uuid4(),
        workflow_id=workflow_id,
        workflow_version_id=workflow_version_id,
        run_id=run_id,
        fingerprint=fingerprint,
        version_checksum=version_checksum,
        context=context or {},
        classification=classification,
        graph_format=graph_format,
        created_at=now,
        updated_at=now,
        audit_log=[audit(actor, "remediation_created", now)],
    )


def claim(candidate: RemediationCandidate, worker_id: str, now: datetime) -> RemediationCandidate:
    """pending -> claimed, counting the attempt."""
    _check(candidate, RemediationStatus.CLAIMED)
    return candidate.model_copy(
        update={
            "status": RemediationStatus.CLAIMED,
            "claimed_by": worker_id,
            "claimed_at": now,
            "attempt_count": candidate.attempt_count + 1,
            "updated_at": now,
            "audit_log": [*candidate.audit_log, audit(worker_id, "remediation_claimed", now)],
        }
    )


def can_claim(candidate: RemediationCandidate, max_attempts: int | None) -> bool:
    return candidate.status is RemediationStatus.PENDING and (
        max_attempts is None or candidate.attempt_count < max_attempts
    )


def transition(
    candidate: RemediationCandidate,
    target: RemediationStatus | str,
    *,
    now: datetime,
    action: str | None = None,
    developer_note: str | None = None,
    artifacts: dict[str, Any] | None = None,
    validation_result: dict[str, Any] | None = None,
    last_error: str | None = None,
    created_version_id: uuid.UUID | None = None,
    actor: str | None = None,
) -> RemediationCandidate:
    """Move a candidate along the state machine, recording the outcome fields given.

    The move is audited as ``remediation_<status>`` (``remediation_requeued`` back to
    pending) by ``actor``, else by the worker holding the claim, else ``system``.

    Raises:
        InvalidTransitionError: the state machine forbids it.
    """
    status = parse_state(RemediationStatus, target, entity="remediation", field="target")
    _check(candidate, status)
    who = actor or candidate.claimed_by or "system"
    name = "requeued" if status is RemediationStatus.PENDING else status.value
    update: dict[str, Any] = {
        "status": status,
        "updated_at": now,
        "audit_log": [*candidate.audit_log, audit(who, f"remediation_{name}", now)],
    }
    if status is RemediationStatus.PENDING:
        update.update(claimed_by=None, claimed_at=None)
    for key, value in (
        ("action", action),
        ("developer_note", developer_note),
        ("artifacts", artifacts),
        ("validation_result", validation_result),
        ("last_error", last_error),
        ("created_version_id", created_version_id),
    ):
        if value is not None:
            update[key] = value
    return build(RemediationCandidate, **{**candidate.model_dump(), **update})


def _check(candidate: RemediationCandidate, target: RemediationStatus) -> None:
    if target not in REMEDIATION_TRANSITIONS[candidate.status]:
        raise InvalidTransitionError(
            "remediation candidate", candidate.id, candidate.status.value, target.value
        )
