"""Stored threads rebuilt without validation equal what validation gives."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pydantic
import pytest
from orcheo_storage.chatkit_types import ClosedStatus, LockedStatus, ThreadMetadata
from orcheo_storage.rules.threads import stored_thread, thread_status

STATUSES: list[dict[str, Any]] = [
    {"type": "active"},
    {"type": "locked", "reason": None},
    {"type": "locked", "reason": "maintenance"},
    {"type": "closed", "reason": "done"},
    {"type": "closed"},  # an older shape without the reason: validated, default filled
]


@pytest.mark.parametrize("status", STATUSES)
def test_a_stored_thread_equals_the_validated_one(status: dict[str, Any]) -> None:
    row = {
        "id": "thr_1",
        "title": None,
        "created_at": datetime(2026, 1, 2, tzinfo=UTC),
        "status": dict(status),
        "allowed_image_domains": ["example.com"],
        "metadata": {"workflow_id": "wf", "n": 1},
    }
    validated = ThreadMetadata.model_validate(row)
    rebuilt = stored_thread(
        thread_id=row["id"],
        title=row["title"],
        created_at=row["created_at"],
        status=dict(status),
        allowed_image_domains=row["allowed_image_domains"],
        metadata=row["metadata"],
    )
    assert rebuilt == validated
    assert type(rebuilt.status) is type(validated.status)
    assert rebuilt.status.model_fields_set == validated.status.model_fields_set
    assert rebuilt.model_fields_set == validated.model_fields_set
    assert rebuilt.model_dump_json() == validated.model_dump_json()


def test_a_status_of_another_shape_is_validated() -> None:
    assert thread_status({"type": "locked", "reason": "x"}) == LockedStatus(reason="x")
    assert isinstance(thread_status({"type": "closed", "reason": None}), ClosedStatus)
    # chatkit's models ignore unknown keys; validation decides that too.
    assert thread_status({"type": "active", "x": 1}).model_dump() == {"type": "active"}
    for bad in ({"type": "locked", "reason": 5}, {"type": "gone"}, "active"):
        with pytest.raises(pydantic.ValidationError):
            thread_status(bad)
