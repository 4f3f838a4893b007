"""The SQLite remediation store: idempotent creation, atomic claims, the state machine."""

from __future__ import annotations

import sqlite3
from typing import Any
from uuid import UUID

from orcheo_storage.clock import utcnow
from orcheo_storage.errors import RemediationNotFoundError, ValidationError
from orcheo_storage.models.remediations import RemediationCandidate, RemediationStatus
from orcheo_storage.rules import remediations as remediation_rules
from orcheo_storage.rules.pagination import check_limit
from orcheo_storage.rules.states import parse_state

from orcheo_storage_sqlite._shared import require_workflow
from orcheo_storage_sqlite.engine import Database
from orcheo_storage_sqlite.tables import CANDIDATES

_OPEN_BY_FINGERPRINT = """fingerprint = ? AND status IN ('pending', 'claimed')
ORDER BY created_at, id LIMIT 1"""
_OLDEST_PENDING = "status = 'pending' ORDER BY created_at, id LIMIT 1"
_OLDEST_PENDING_CAPPED = "status = 'pending' AND attempt_count < ? ORDER BY created_at, id LIMIT 1"


def _status(status: RemediationStatus | str) -> RemediationStatus:
    return parse_state(RemediationStatus, status, entity="remediation", field="status")


def _require(conn: sqlite3.Connection, candidate_id: UUID) -> RemediationCandidate:
    candidate = CANDIDATES.fetch_one(conn, "id = ?", (str(candidate_id),))
    if candidate is None:
        raise RemediationNotFoundError(candidate_id)
    return candidate


class SqliteRemediationStore:
    """:class:`~orcheo_storage.protocols.coordination.RemediationStore` on the repository file."""

    def __init__(self, db: Database) -> None:
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

        def job(conn: sqlite3.Connection) -> RemediationCandidate:
            require_workflow(conn, workflow_id)
            # Check-then-insert under the write lock: idempotent across processes.
            existing = CANDIDATES.fetch_one(conn, _OPEN_BY_FINGERPRINT, (candidate.fingerprint,))
            if existing is not None:
                return existing
            CANDIDATES.insert_row(conn, candidate)
            return candidate

        return await self._db.write(job)

    async def get_candidate(self, candidate_id: UUID) -> RemediationCandidate:
        return await self._db.read(lambda conn: _require(conn, candidate_id))

    async def claim_next(
        self, *, worker_id: str, max_attempts: int | None = None
    ) -> RemediationCandidate | None:
        if max_attempts is not None and max_attempts < 1:
            raise ValidationError("max_attempts must be at least 1", field="max_attempts")

        def job(conn: sqlite3.Connection) -> RemediationCandidate | None:
            # Select-then-update under the write lock: no two workers get the same one.
            if max_attempts is None:
                oldest = CANDIDATES.fetch_one(conn, _OLDEST_PENDING, ())
            else:
                oldest = CANDIDATES.fetch_one(conn, _OLDEST_PENDING_CAPPED, (max_attempts,))
            if oldest is None or not remediation_rules.can_claim(oldest, max_attempts):
                return None
            claimed = remediation_rules.claim(oldest, worker_id, utcnow())
            CANDIDATES.update_row(conn, claimed)
            return claimed

        return await self._db.write(job)

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

        def job(conn: sqlite3.Connection) -> RemediationCandidate:
            current = _require(conn, candidate_id)
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
            CANDIDATES.update_row(conn, updated)
            return updated

        return await self._db.write(job)

    async def list_candidates(
        self,
        *,
        workflow_id: UUID | None = None,
        status: RemediationStatus | str | None = None,
        limit: int = 100,
    ) -> list[RemediationCandidate]:
        check_limit(limit)
        wanted = None if status is None else _status(status)
        clauses: list[str] = []
        args: list[Any] = []
        if workflow_id is not None:
            clauses.append("workflow_id = ?")
            args.append(str(workflow_id))
        if wanted is not None:
            clauses.append("status = ?")
            args.append(wanted.value)
        where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
        tail = f"{where}ORDER BY created_at DESC, id DESC LIMIT ?"
        args.append(limit)
        return await self._db.read(lambda conn: CANDIDATES.fetch_all(conn, tail, args))
