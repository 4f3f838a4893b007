"""Remediation candidates on PostgreSQL: an idempotent queue with SKIP LOCKED claims."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from orcheo_storage.clock import utcnow
from orcheo_storage.errors import (
    RemediationNotFoundError,
    ValidationError,
    WorkflowNotFoundError,
)
from orcheo_storage.models.remediations import RemediationCandidate, RemediationStatus
from orcheo_storage.rules import remediations as rules
from orcheo_storage.rules.pagination import check_limit
from orcheo_storage.rules.states import parse_state

from orcheo_storage_postgres._db import Db, q_one
from orcheo_storage_postgres._errors import ForeignKeyViolation
from orcheo_storage_postgres.stores._codecs import CANDIDATES

# Idempotent creation across processes: one creator per fingerprint at a time.
_LOCK_FINGERPRINT = "SELECT pg_advisory_xact_lock(hashtext('orcheo_remediation:' || %s))"
_OPEN_BY_FINGERPRINT = CANDIDATES.select(
    "fingerprint = %(fp)s AND status IN ('pending', 'claimed')", "ORDER BY created_at, id LIMIT 1"
)
_GET = CANDIDATES.select("id = %(id)s")
_GET_FOR_UPDATE = CANDIDATES.select("id = %(id)s", "FOR UPDATE")
# Oldest claimable candidate; SKIP LOCKED lets concurrent workers (any process) pass over a
# row another worker is claiming instead of queueing behind it.
_NEXT_FOR_UPDATE = CANDIDATES.select(
    "status = 'pending' AND (%(cap)s::bigint IS NULL OR attempt_count < %(cap)s::bigint)",
    "ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED",
)
_UPDATE = CANDIDATES.update_all("id", skip=("created_at",))
_LIST = CANDIDATES.select(
    "(%(wf)s::uuid IS NULL OR workflow_id = %(wf)s::uuid) "
    "AND (%(st)s::text IS NULL OR status = %(st)s::text)",
    "ORDER BY created_at DESC, id DESC LIMIT %(n)s",
)


class PostgresRemediationStore:
    """:class:`~orcheo_storage.protocols.coordination.RemediationStore` on PostgreSQL."""

    def __init__(self, db: Db) -> None:
        self._db = db

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
        candidate = rules.new_candidate(
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
        try:
            async with self._db.transaction() as conn:
                await conn.execute(_LOCK_FINGERPRINT, (fingerprint,))
                row = await q_one(conn, _OPEN_BY_FINGERPRINT, {"fp": fingerprint})
                if row is not None:
                    return CANDIDATES.load(row)
                await conn.execute(CANDIDATES.insert_sql, CANDIDATES.params(candidate))
        except ForeignKeyViolation:
            raise WorkflowNotFoundError(workflow_id) from None
        return candidate

    async def get_candidate(self, candidate_id: UUID) -> RemediationCandidate:
        row = await self._db.read_one(_GET, {"id": candidate_id})
        if row is None:
            raise RemediationNotFoundError(candidate_id)
        return CANDIDATES.load(row)

    async def claim_next(
        self, *, worker_id: str, max_attempts: int | None = None
    ) -> RemediationCandidate | None:
        if max_attempts is not None and max_attempts < 1:
            raise ValidationError("max_attempts must be at least 1", field="max_attempts")
        async with self._db.transaction() as conn:
            row = await q_one(conn, _NEXT_FOR_UPDATE, {"cap": max_attempts})
            if row is None:
                return None
            candidate = CANDIDATES.load(row)
            if not rules.can_claim(candidate, max_attempts):  # pragma: no cover - SQL filtered
                return None
            claimed = rules.claim(candidate, worker_id, utcnow())
            await conn.execute(_UPDATE, CANDIDATES.params(claimed))
            return claimed

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
        status = parse_state(RemediationStatus, target, entity="remediation", field="status")
        async with self._db.transaction() as conn:
            row = await q_one(conn, _GET_FOR_UPDATE, {"id": candidate_id})
            if row is None:
                raise RemediationNotFoundError(candidate_id)
            updated = rules.transition(
                CANDIDATES.load(row),
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
            await conn.execute(_UPDATE, CANDIDATES.params(updated))
            return updated

    async def list_candidates(
        self,
        *,
        workflow_id: UUID | None = None,
        status: RemediationStatus | str | None = None,
        limit: int = 100,
    ) -> list[RemediationCandidate]:
        check_limit(limit)
        st = (
            None
            if status is None
            else parse_state(RemediationStatus, status, entity="remediation", field="status").value
        )
        rows = await self._db.read_all(_LIST, {"wf": workflow_id, "st": st, "n": limit})
        return [CANDIDATES.load(r) for r in rows]
