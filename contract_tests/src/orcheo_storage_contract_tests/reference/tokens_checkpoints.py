"""Reference models of service tokens (DOMAIN.md section 4) and agentensor checkpoints
(section 5).

Tokens: exact lookups by identifier and by hash, lists by (issued_at, identifier), active
means not revoked and not yet expired, usage and audit events newest first with ties in
recording order. Checkpoints: per-workflow versions, one best, newest first by
(config_version, created_at, id), containment filters applied before the limit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orcheo_storage.jsoncodec import normalise_object

from orcheo_storage_contract_tests.reference.workflows import Row


def contains(document: Any, fragment: Any) -> bool:
    """JSON containment at every depth (PostgreSQL's ``@>``): objects by key, arrays by
    element (each fragment element in some document element), scalars by equality with
    booleans distinct from numbers; a top-level array also contains one of its scalars."""
    if isinstance(document, list) and not isinstance(fragment, dict | list):
        return any(_contains(item, fragment) for item in document)
    return _contains(document, fragment)


def _contains(document: Any, fragment: Any) -> bool:
    if isinstance(fragment, dict):
        return isinstance(document, dict) and all(
            key in document and _contains(document[key], value) for key, value in fragment.items()
        )
    if isinstance(fragment, list):
        return isinstance(document, list) and all(
            any(_contains(d, f) for d in document) for f in fragment
        )
    if isinstance(document, bool) or isinstance(fragment, bool):
        return type(document) is type(fragment) and document == fragment
    if isinstance(document, dict | list) or isinstance(fragment, dict | list):
        return False
    if isinstance(document, str) or isinstance(fragment, str):
        return type(document) is type(fragment) and document == fragment
    return bool(document == fragment)


def fragments(document: Any) -> list[Any]:
    """Containment fragments of ``document``: each key path, at every depth, keeping only
    the leaf at its end (and each array element wrapped in an array)."""
    out: list[Any] = []
    if isinstance(document, dict):
        for key, value in document.items():
            out.append({key: value})
            out.extend({key: inner} for inner in fragments(value))
    elif isinstance(document, list):
        for value in document:
            out.append([value])
            out.extend([inner] for inner in fragments(value))
    return out


@dataclass
class TokensModel:
    tokens: dict[str, Row] = field(default_factory=dict)
    audit: list[Row] = field(default_factory=list)

    def by_hash(self, secret_hash: str) -> Row | None:
        return next((t for t in self.tokens.values() if t["secret_hash"] == secret_hash), None)

    def listed(self) -> list[Row]:
        return sorted(self.tokens.values(), key=lambda t: (t["issued_at"], t["identifier"]))

    def active(self, now: datetime) -> list[Row]:
        return [
            t
            for t in self.listed()
            if t["revoked_at"] is None and (t["expires_at"] is None or t["expires_at"] > now)
        ]

    def event(self, token_id: str, action: str, now: datetime, **extra: Any) -> None:
        row: Row = {
            "token_id": token_id,
            "action": action,
            "actor": None,
            "ip": None,
            "user_agent": None,
            "timestamp": now,
            "details": {},
        }
        row.update(extra)
        self.audit.append(row)

    def events(self, token_id: str | None, limit: int) -> list[Row]:
        """Newest first by timestamp; events of one timestamp newest-recorded first."""
        found = [
            (n, e)
            for n, e in enumerate(self.audit)
            if token_id is None or e["token_id"] == token_id
        ]
        found.sort(key=lambda pair: (pair[1]["timestamp"], pair[0]), reverse=True)
        return [e for _, e in found[:limit]]


@dataclass
class CheckpointsModel:
    checkpoints: dict[uuid.UUID, Row] = field(default_factory=dict)

    def of(self, workflow_id: str) -> list[Row]:
        """Newest first: highest config_version, then newest created_at, then id."""
        rows = [c for c in self.checkpoints.values() if c["workflow_id"] == workflow_id]
        return sorted(
            rows, key=lambda c: (c["config_version"], c["created_at"], str(c["id"])), reverse=True
        )

    def next_version(self, workflow_id: str) -> int:
        return max((c["config_version"] for c in self.of(workflow_id)), default=0) + 1

    def record(
        self,
        cid: uuid.UUID,
        workflow_id: str,
        version: int,
        metrics: Row,
        metadata: Row,
        best: bool,
        now: datetime,
    ) -> Row:
        row: Row = {
            "id": cid,
            "workflow_id": workflow_id,
            "config_version": version,
            "runnable_config": {},
            "metrics": normalise_object(metrics, "metrics"),
            "metadata": normalise_object(metadata, "metadata"),
            "artifact_url": None,
            "is_best": best,
            "created_at": now,
        }
        if best:
            self.clear_best(workflow_id)
        self.checkpoints[cid] = row
        return row

    def clear_best(self, workflow_id: str) -> None:
        for row in self.checkpoints.values():
            if row["workflow_id"] == workflow_id:
                row["is_best"] = False

    def mark_best(self, cid: uuid.UUID) -> Row:
        row = self.checkpoints[cid]
        self.clear_best(row["workflow_id"])
        row["is_best"] = True
        return row

    def listed(
        self, workflow_id: str, limit: int, metrics: Any = None, metadata: Any = None
    ) -> list[Row]:
        found = [
            c
            for c in self.of(workflow_id)
            if (metrics is None or contains(c["metrics"], metrics))
            and (metadata is None or contains(c["metadata"], metadata))
        ]
        return found[:limit]

    def best(self, workflow_id: str) -> Row | None:
        return next((c for c in self.of(workflow_id) if c["is_best"]), None)
