"""In-memory remediation store: idempotent creation, atomic claims, the state machine."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from orcheo_storage.clock import utcnow
from orcheo_storage.errors import RemediationNotFoundError, ValidationError
from orcheo_storage.jsoncodec import check_text
from orcheo_storage.memory._lifecycle import refuses_when_closed
from orcheo_storage.memory._state import MemoryState, copy, sort_key_id
from orcheo_storage.memory.workflows import require_workflow
from orcheo_storage.models.remediations import RemediationCandidate, RemediationStatus
from orcheo_storage.rules import remediations as remediation_rules
from orcheo_storage.rules.pagination import check_limit
from orcheo_storage.rules.states import parse_state


def _status(status: RemediationStatus | str) -> RemediationStatus:
    return parse_state(RemediationStatus, status, entity="remediation", field="status")


def _key(candidate: RemediationCandidate) -> tuple[Any, str]:
    return sort_key_id(candidate.created_at, candidate.id)


@refuses_when_closed
class MemoryRemediationStore:
    """:class:`~orcheo_storage.protocols.coordination.RemediationStore` over a session's state."""

    def __init__(self, state: MemoryState) -> None:
        self._state = state

    def _require(self, candidate_id: UUID) -> RemediationCandidate:
        candidate = self._state.candidates.get(candidate_id)
        if candidate is None:
            raise RemediationNotFoundError(candidate_id)
        return candidate

    async def create_candidate(
        self,
        *,
        workflow_id: UUID,
        workflow_version_id: UUID,
        run_id: UUID,
        fingerprint: str,
        version_checksum: str,
        context: dict[str, Any] | None = None,
        classification: str | None = None,
        graph_format: str | None = None,
        actor: str = "system",
    ) -> RemediationCandidate:
        candidate = remediation_rules.new_candidate(
            workflow_id=workflow_id,
            workflow_version_id=workflow_version_id,
            run_id=run_id,
            fingerprint=fingerprint,
            version_checksum=version_checksum,
            now=utcnow(),
            context=context,
            classification=classification,
            graph_format=graph_format,
            actor=actor,
        )
        require_workflow(self._state, workflow_id)
        for existing in self._state.candidates.values():
            if (
                existing.fingerprint == candidate.fingerprint
                and existing.status in remediation_rules.OPEN_STATES
            ):
                return copy(existing)
        self._state.candidates[candidate.id] = candidate
        return copy(candidate)

    async def get_candidate(self, candidate_id: UUID) -> RemediationCandidate:
        return copy(self._require(candidate_id))

    async def claim_next(
        self, *, worker_id: str, max_attempts: int | None = None
    ) -> RemediationCandidate | None:
        check_text(worker_id, "worker_id")
        if max_attempts is not None and max_attempts < 1:
            raise ValidationError("max_attempts must be at least 1", field="max_attempts")
        claimable = [
            c
            for c in self._state.candidates.values()
            if remediation_rules.can_claim(c, max_attempts)
        ]
        if not claimable:
            return None
        oldest = min(claimable, key=_key)
        claimed = remediation_rules.claim(oldest, worker_id, utcnow())
        self._state.candidates[claimed.id] = claimed
        return copy(claimed)

    async def transition_candidate(
        self,
        candidate_id: UUID,
        target: RemediationStatus | str,
        *,
        action: str | None = None,
        developer_note: str | None = None,
        artifacts: dict[str, Any] | None = None,
        validation_result: dict[str, Any] | None = None,
        last_error: str | None = None,
        created_version_id: UUID | None = None,
        actor: str | None = None,
    ) -> RemediationCandidate:
        status = _status(target)
        current = self._require(candidate_id)
        updated = remediation_rules.transition(
            current,
            status,
            now=utcnow(),
            action=action,
            developer_note=developer_note,
            artifacts=artifacts,
            validation_result=validation_result,
            last_error=last_error,
            created_version_id=created_version_id,
            actor=actor,
        )
        self._state.candidates[candidate_id] = updated
        return copy(updated)

    async def list_candidates(
        self,
        *,
        workflow_id: UUID | None = None,
        status: RemediationStatus | str | None = None,
        limit: int = 100,
    ) -> list[RemediationCandidate]:
        check_limit(limit)
        wanted = None if status is None else _status(status)
        found = [
            c
            for c in self._state.candidates.values()
            if (workflow_id is None or c.workflow_id == workflow_id)
            and (wanted is None or c.status is wanted)
        ]
        found.sort(key=_key, reverse=True)
        return [copy(c) for c in found[:limit]]
