"""Reference model of listeners and remediations (DOMAIN.md section 2).

Subscriptions are the exact dicts their model dumps to; dedupe windows and remediation
candidates follow the rules the domain states: dedupe keys scoped to their subscription,
sync scoped to its workflow, remediation idempotency scoped to open candidates of one
fingerprint, claims taking the oldest pending candidate under the attempt cap.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from orcheo_storage.jsoncodec import normalise_object

from orcheo_storage_contract_tests.reference.workflows import Row, audit

REMEDIATION_MOVES: dict[str, frozenset[str]] = {
    "pending": frozenset({"claimed", "dismissed"}),
    "claimed": frozenset({"fixed", "note_only", "failed", "dismissed", "pending"}),
    "fixed": frozenset(),
    "note_only": frozenset(),
    "failed": frozenset({"pending"}),
    "dismissed": frozenset(),
}
OPEN = frozenset({"pending", "claimed"})


def _ordered(rows: list[Row]) -> list[Row]:
    return sorted(rows, key=lambda r: (r["created_at"], str(r["id"])))


@dataclass
class ListenersModel:
    subscriptions: dict[uuid.UUID, Row] = field(default_factory=dict)
    cursors: dict[uuid.UUID, Row] = field(default_factory=dict)
    dedupe: dict[tuple[uuid.UUID, str], datetime] = field(default_factory=dict)

    def disable_all(self, wid: uuid.UUID, reason: str, now: datetime) -> None:
        """Disable every non-disabled subscription of ``wid`` (and only of ``wid``)."""
        for row in self.subscriptions.values():
            if row["workflow_id"] == wid and row["status"] != "disabled":
                row.update(
                    status="disabled", assigned_runtime=None, lease_expires_at=None, updated_at=now
                )
                row["audit_log"].append(
                    audit("system", "subscription_disabled", now, {"reason": reason})
                )

    def sync(
        self, ids: list[uuid.UUID], wid: uuid.UUID, vid: uuid.UUID, specs: list[Row], now: datetime
    ) -> list[Row]:
        self.disable_all(wid, "superseded", now)
        created = []
        for sid, spec in zip(ids, specs, strict=True):
            row: Row = {
                "id": sid,
                "workflow_id": wid,
                "workflow_version_id": vid,
                "node_name": spec["node_name"],
                "platform": spec["platform"],
                "bot_identity_key": spec["bot_identity_key"],
                "config": normalise_object(spec.get("config"), "config"),
                "status": "active",
                "assigned_runtime": None,
                "lease_expires_at": None,
                "last_event_at": None,
                "last_error": None,
                "created_at": now,
                "updated_at": now,
                "audit_log": [audit("system", "subscription_created", now)],
            }
            self.subscriptions[sid] = row
            created.append(row)
        return created

    def of_workflow(self, wid: uuid.UUID) -> list[Row]:
        """``list_subscriptions``: all of them, disabled included, oldest first."""
        return _ordered([r for r in self.subscriptions.values() if r["workflow_id"] == wid])

    def active(self) -> list[Row]:
        return _ordered([r for r in self.subscriptions.values() if r["status"] == "active"])

    def claim(self, sid: uuid.UUID, runtime: str, lease: float, now: datetime) -> Row | None:
        row = self.subscriptions[sid]
        holder, expires = row["assigned_runtime"], row["lease_expires_at"]
        if row["status"] != "active":
            return None
        if holder not in (None, runtime) and expires is not None and expires > now:
            return None
        if holder != runtime:
            row["audit_log"].append(audit(runtime, "subscription_claimed", now))
        row.update(
            assigned_runtime=runtime,
            lease_expires_at=now + timedelta(seconds=lease),
            updated_at=now,
        )
        return row

    def release(self, sid: uuid.UUID, runtime: str, now: datetime) -> bool:
        row = self.subscriptions[sid]
        if row["assigned_runtime"] != runtime:
            return False
        row.update(assigned_runtime=None, lease_expires_at=None, updated_at=now)
        row["audit_log"].append(audit(runtime, "subscription_released", now))
        return True

    def set_status(
        self, sid: uuid.UUID, status: str, actor: str, error: str | None, now: datetime
    ) -> Row:
        row = self.subscriptions[sid]
        event = audit(
            actor, "subscription_status_changed", now, {"from": row["status"], "to": status}
        )
        row.update(
            status=status,
            last_error=error,
            assigned_runtime=None,
            lease_expires_at=None,
            updated_at=now,
        )
        row["audit_log"].append(event)
        return row

    def record_dedupe(self, sid: uuid.UUID, key: str, window: float, now: datetime) -> bool:
        """First time within the window -> True (and the key is held until now + window)."""
        expires = self.dedupe.get((sid, key))
        if expires is not None and expires > now:
            return False
        self.dedupe[(sid, key)] = now + timedelta(seconds=window)
        return True

    def prune(self, now: datetime) -> int:
        gone = [k for k, expires in self.dedupe.items() if expires <= now]
        for key in gone:
            del self.dedupe[key]
        return len(gone)


@dataclass
class RemediationsModel:
    candidates: dict[uuid.UUID, Row] = field(default_factory=dict)

    def open_with(self, fingerprint: str) -> Row | None:
        """The open (pending or claimed) candidate of ``fingerprint``, exact match only."""
        found = [
            r
            for r in self.candidates.values()
            if r["fingerprint"] == fingerprint and r["status"] in OPEN
        ]
        return _ordered(found)[0] if found else None

    def create(
        self,
        cid: uuid.UUID,
        *,
        wid: uuid.UUID,
        vid: uuid.UUID,
        rid: uuid.UUID,
        fingerprint: str,
        context: Row,
        now: datetime,
        graph_format: str | None = None,
        actor: str = "system",
    ) -> Row:
        row: Row = {
            "id": cid,
            "workflow_id": wid,
            "workflow_version_id": vid,
            "run_id": rid,
            "fingerprint": fingerprint,
            "version_checksum": "sum",
            "status": "pending",
            "attempt_count": 0,
            "classification": None,
            "action": None,
            "context": normalise_object(context, "context"),
            "developer_note": None,
            "artifacts": {},
            "validation_result": None,
            "last_error": None,
            "claimed_by": None,
            "claimed_at": None,
            "graph_format": graph_format,
            "created_version_id": None,
            "created_at": now,
            "updated_at": now,
            "audit_log": [audit(actor, "remediation_created", now)],
        }
        self.candidates[cid] = row
        return row

    def claim_next(self, worker: str, cap: int | None, now: datetime) -> Row | None:
        """The oldest pending candidate (created_at, id) with attempts below ``cap``."""
        ready = [
            r
            for r in self.candidates.values()
            if r["status"] == "pending" and (cap is None or r["attempt_count"] < cap)
        ]
        if not ready:
            return None
        row = _ordered(ready)[0]
        row.update(status="claimed", claimed_by=worker, claimed_at=now, updated_at=now)
        row["attempt_count"] += 1
        row["audit_log"].append(audit(worker, "remediation_claimed", now))
        return row

    def transition(
        self,
        cid: uuid.UUID,
        target: str,
        outcome: dict[str, Any],
        now: datetime,
        actor: str | None = None,
    ) -> Row | None:
        """A permitted move, audited as ``remediation_<target>`` (``remediation_requeued``
        back to pending) by the actor given, else the claim's worker, else ``system``."""
        row = self.candidates[cid]
        if target not in REMEDIATION_MOVES[row["status"]]:
            return None
        name = "requeued" if target == "pending" else target
        who = actor or row["claimed_by"] or "system"
        row["audit_log"].append(audit(who, f"remediation_{name}", now))
        row.update(status=target, updated_at=now)
        if target == "pending":
            row.update(claimed_by=None, claimed_at=None)
        for key, value in outcome.items():
            if value is not None:
                row[key] = normalise_object(value, key) if isinstance(value, dict) else value
        return row

    def listed(self, wid: uuid.UUID | None, status: str | None, limit: int) -> list[Row]:
        """``list_candidates``: filters first, newest first (created_at, id), then the limit."""
        found = [
            r
            for r in self.candidates.values()
            if (wid is None or r["workflow_id"] == wid)
            and (status is None or r["status"] == status)
        ]
        return _ordered(found)[::-1][:limit]
