"""Reference model of the workflow repository (DOMAIN.md section 1): workflows, versions, runs.

Each entity is the exact dict its model dumps to: the model knows every field, because
ids are learned when the backend creates an entity and every timestamp is the suite's
frozen clock at the moment of the call.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from orcheo_storage.jsoncodec import normalise_object
from orcheo_storage.rules.handles import make_slug

Row = dict[str, Any]

RUN_MOVES: dict[str, frozenset[str]] = {
    "pending": frozenset({"running", "failed", "cancelled"}),
    "running": frozenset({"succeeded", "failed", "cancelled"}),
    "succeeded": frozenset(),
    "failed": frozenset(),
    "cancelled": frozenset(),
}
"""The run state machine: pending -> running -> succeeded; pending|running -> failed;
any non-terminal -> cancelled."""


def orcheo_checksum(graph: Row) -> str:
    """Today's Orcheo's rule, written here independently of the core: SHA-256 of
    ``json.dumps(graph, sort_keys=True, separators=(",", ":"))``, standard defaults.

    A Decimal (a number no float holds exactly) is written as its exact literal: each is
    swapped for a unique placeholder string, and the quoted placeholder for the literal.
    """
    literals: dict[str, str] = {}

    def swap(value: Any) -> Any:
        if isinstance(value, Decimal):
            token = f"\x00decimal-{len(literals)}\x00"
            exact = format(value, "f") if value.as_tuple().exponent < 0 else str(value)  # type: ignore[operator]
            literals[json.dumps(token)] = exact
            return token
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return value

    text = json.dumps(swap(graph), sort_keys=True, separators=(",", ":"))
    for token, exact in literals.items():
        text = text.replace(token, exact)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def audit(actor: str, action: str, at: datetime, metadata: Row | None = None) -> Row:
    return {"actor": actor, "action": action, "at": at, "metadata": metadata or {}}


def no_publication() -> Row:
    return {"is_public": False, "published_at": None, "published_by": None, "require_login": False}


def merge_config(base: Row | None, override: Row | None) -> Row:
    """The run's config: the override wins; ``configurable`` and ``metadata`` merge key by key."""
    merged = dict(base or {})
    for key, value in (override or {}).items():
        current = merged.get(key)
        if (
            key in ("configurable", "metadata")
            and isinstance(current, dict)
            and isinstance(value, dict)
        ):
            merged[key] = {**current, **value}
        else:
            merged[key] = value
    return merged


@dataclass
class WorkflowsModel:
    """Every workflow, version and run the machine created, as the contract says they are."""

    workflows: dict[uuid.UUID, Row] = field(default_factory=dict)
    versions: dict[uuid.UUID, Row] = field(default_factory=dict)
    runs: dict[uuid.UUID, Row] = field(default_factory=dict)

    # --- workflows ---------------------------------------------------------------------------

    def active_holder(self, handle: str, exclude: uuid.UUID | None = None) -> uuid.UUID | None:
        for wid, row in self.workflows.items():
            if row["handle"] == handle and not row["is_archived"] and wid != exclude:
                return wid
        return None

    def create_workflow(
        self,
        wid: uuid.UUID,
        *,
        name: str,
        handle: str | None,
        tags: list[str],
        actor: str,
        now: datetime,
    ) -> Row:
        row: Row = {
            "id": wid,
            "name": name.strip(),
            "handle": handle,
            "slug": make_slug(name),
            "description": None,
            "tags": list(dict.fromkeys(t.strip().lower() for t in tags if t.strip())),
            "is_archived": False,
            "draft_access": "personal",
            "publication": no_publication(),
            "chat": None,
            "share_url": None,
            "created_at": now,
            "updated_at": now,
            "audit_log": [audit(actor, "workflow_created", now)],
        }
        self.workflows[wid] = row
        return row

    def update_workflow(self, wid: uuid.UUID, changes: Row, *, actor: str, now: datetime) -> Row:
        """Apply ``changes`` (already normalised values of changed-or-not fields)."""
        row = self.workflows[wid]
        diff: Row = {}
        for name, new in changes.items():
            if row[name] != new:
                diff[name] = {"from": row[name], "to": new}
                row[name] = new
        if changes.get("is_archived") and row["publication"]["is_public"]:
            row["publication"] = no_publication()
            diff["publication"] = {"from": "public", "to": "revoked"}
        row["updated_at"] = now
        row["audit_log"].append(audit(actor, "workflow_updated", now, diff))
        return row

    def publish(self, wid: uuid.UUID, *, actor: str, require_login: bool, now: datetime) -> Row:
        row = self.workflows[wid]
        row["publication"] = {
            "is_public": True,
            "published_at": now,
            "published_by": actor,
            "require_login": require_login,
        }
        row["updated_at"] = now
        row["audit_log"].append(
            audit(actor, "workflow_published", now, {"require_login": require_login})
        )
        return row

    def revoke(self, wid: uuid.UUID, *, actor: str, now: datetime) -> Row:
        row = self.workflows[wid]
        row["publication"] = no_publication()
        row["updated_at"] = now
        row["audit_log"].append(audit(actor, "workflow_publish_revoked", now))
        return row

    def listed(self, *, include_archived: bool) -> list[Row]:
        """``list_workflows``: archived only when asked, ordered by (created_at, id)."""
        rows = [r for r in self.workflows.values() if include_archived or not r["is_archived"]]
        return sorted(rows, key=lambda r: (r["created_at"], str(r["id"])))

    def resolve(self, ref: str, *, include_archived: bool) -> uuid.UUID | None:
        """The workflow a reference names (``None``: not found). Stripped and lowercased;
        the active holder of the handle; then, when asked, the most recently updated
        archived holder; then the workflow whose id the reference parses as."""
        value = ref.strip().lower()
        if not value:
            return None
        holder = self.active_holder(value)
        if holder is not None:
            return holder
        if include_archived:
            archived = [
                r for r in self.workflows.values() if r["handle"] == value and r["is_archived"]
            ]
            if archived:
                return max(archived, key=lambda r: (r["updated_at"], str(r["id"])))["id"]  # type: ignore[no-any-return]
        try:
            as_id = uuid.UUID(value)
        except ValueError:
            return None
        return as_id if as_id in self.workflows else None

    # --- versions ----------------------------------------------------------------------------

    def versions_of(self, wid: uuid.UUID) -> list[Row]:
        return sorted(
            (v for v in self.versions.values() if v["workflow_id"] == wid),
            key=lambda v: v["version"],
        )

    def create_version(
        self,
        vid: uuid.UUID,
        wid: uuid.UUID,
        *,
        graph: Row,
        config: Row | None,
        actor: str,
        now: datetime,
    ) -> Row:
        clean = normalise_object(graph, "graph")
        row: Row = {
            "id": vid,
            "workflow_id": wid,
            "version": len(self.versions_of(wid)) + 1,
            "graph": clean,
            "metadata": {},
            "runnable_config": None
            if config is None
            else normalise_object(config, "runnable_config"),
            "notes": None,
            "created_by": actor,
            "created_at": now,
            "updated_at": now,
            "mermaid": None,
            "checksum": orcheo_checksum(clean),
            "audit_log": [audit(actor, "version_created", now)],
        }
        self.versions[vid] = row
        return row

    def version_by_number(self, wid: uuid.UUID, number: int) -> Row | None:
        for row in self.versions_of(wid):
            if row["version"] == number:
                return row
        return None

    def set_runnable_config(
        self, vid: uuid.UUID, config: Row | None, *, actor: str, now: datetime
    ) -> Row:
        row = self.versions[vid]
        row["runnable_config"] = (
            None if config is None else normalise_object(config, "runnable_config")
        )
        action = "runnable_config_cleared" if config is None else "runnable_config_updated"
        row["audit_log"].append(audit(actor, action, now))
        row["updated_at"] = now
        return row

    # --- runs --------------------------------------------------------------------------------

    def can_run(self, wid: uuid.UUID, vid: uuid.UUID) -> str | None:
        """Why ``create_run`` must fail (``"workflow"`` / ``"version"``), or ``None``."""
        workflow = self.workflows.get(wid)
        if workflow is None or workflow["is_archived"]:
            return "workflow"
        version = self.versions.get(vid)
        if version is None or version["workflow_id"] != wid:
            return "version"
        return None

    def create_run(
        self,
        rid: uuid.UUID,
        wid: uuid.UUID,
        vid: uuid.UUID,
        *,
        payload: Row,
        override: Row | None,
        actor: str,
        now: datetime,
    ) -> Row:
        config = merge_config(
            self.versions[vid]["runnable_config"], normalise_object(override, "c")
        )
        tags, callbacks = config.get("tags"), config.get("callbacks")
        metadata, run_name = config.get("metadata"), config.get("run_name")
        row: Row = {
            "id": rid,
            "workflow_id": wid,
            "workflow_version_id": vid,
            "status": "pending",
            "triggered_by": actor,
            "input_payload": normalise_object(payload, "input_payload"),
            "runnable_config": config,
            "tags": tags if isinstance(tags, list) else [],
            "callbacks": callbacks if isinstance(callbacks, list) else [],
            "metadata": metadata if isinstance(metadata, dict) else {},
            "run_name": run_name if isinstance(run_name, str) else None,
            "output_payload": None,
            "error": None,
            "started_at": None,
            "completed_at": None,
            "created_at": now,
            "updated_at": now,
            "audit_log": [audit(actor, "run_created", now)],
        }
        self.runs[rid] = row
        return row

    def transition(
        self,
        rid: uuid.UUID,
        target: str,
        *,
        actor: str,
        output: Row | None,
        error: str | None,
        now: datetime,
    ) -> Row | None:
        """The run after the move, or ``None`` when the state machine forbids it."""
        row = self.runs[rid]
        if target not in RUN_MOVES[row["status"]]:
            return None
        event = audit(actor, f"run_{target}", now, {"from": row["status"], "to": target})
        row["status"] = target
        row["updated_at"] = now
        row["started_at" if target == "running" else "completed_at"] = now
        if target == "succeeded":
            row["output_payload"] = normalise_object(output, "output_payload")
        if error is not None:
            row["error"] = error
        row["audit_log"].append(event)
        return row

    def runs_newest_first(self, wid: uuid.UUID) -> list[Row]:
        """``list_runs``: newest first by (created_at, id), descending."""
        rows = [r for r in self.runs.values() if r["workflow_id"] == wid]
        return sorted(rows, key=lambda r: (r["created_at"], str(r["id"])), reverse=True)
