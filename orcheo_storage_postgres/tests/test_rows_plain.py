"""The JSON form of models written to JSONB columns (no database needed)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from orcheo_storage.clock import utcnow
from orcheo_storage.models.common import AuditEvent
from orcheo_storage.rules import versions
from orcheo_storage.rules import workflows as workflow_rules
from orcheo_storage_postgres._rows import plain
from pydantic import BaseModel, ConfigDict


def test_a_model_reads_as_its_dump() -> None:
    now = utcnow()
    workflow = workflow_rules.publish(
        workflow_rules.new_workflow(name="W", actor="a", now=now, tags=["x"]),
        actor="a",
        require_login=True,
        now=now,
    )
    version = versions.new_version(
        workflow_id=workflow.id,
        number=1,
        graph={"n": [1, 2.5, Decimal("0.1000000000000000055511151231257827")]},
        created_by="a",
        now=now,
        metadata={"k": {"v": None}},
    )
    event = AuditEvent(actor="a", action="x", at=now, metadata={"d": Decimal("1.5")})
    for model in (workflow, version, event):
        assert plain(model) == plain(model.model_dump())
    as_json = plain([event])
    assert as_json == [
        {"actor": "a", "action": "x", "at": now.isoformat(), "metadata": event.metadata}
    ]
    assert isinstance(plain(version)["id"], str)


def test_a_model_with_extra_fields_keeps_them() -> None:
    class Open(BaseModel):
        model_config = ConfigDict(extra="allow")
        a: int

    value: Any = Open.model_validate({"a": 1, "b": uuid.UUID(int=1)})
    assert plain(value) == {"a": 1, "b": str(uuid.UUID(int=1))}
