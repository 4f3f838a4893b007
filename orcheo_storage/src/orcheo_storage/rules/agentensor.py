"""Agentensor checkpoints: construction, ordering and JSON containment."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from orcheo_storage.models.agentensor import AgentensorCheckpoint
from orcheo_storage.models.common import build


def new_checkpoint(
    *,
    workflow_id: str,
    config_version: int,
    now: datetime,
    runnable_config: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    artifact_url: str | None = None,
    is_best: bool = False,
) -> AgentensorCheckpoint:
    return build(
        AgentensorCheckpoint,
        id=uuid.uuid4(),
        workflow_id=workflow_id,
        config_version=config_version,
        runnable_config=runnable_config or {},
        metrics=metrics or {},
        metadata=metadata or {},
        artifact_url=artifact_url,
        is_best=is_best,
        created_at=now,
    )


def newest_first_key(cp: AgentensorCheckpoint) -> tuple[int, datetime, str]:
    """Sort descending: highest config_version, then newest created_at, then id."""
    return (cp.config_version, cp.created_at, str(cp.id))


def json_contains(document: Any, fragment: Any) -> bool:
    """PostgreSQL ``@>`` semantics: every key/value of ``fragment`` is present in ``document``.

    Objects match when each key of the fragment matches recursively; arrays match when
    every element of the fragment array is contained in some element of the document
    array; scalars match by equality (with bools distinct from numbers). As in PostgreSQL,
    a top-level array also contains a bare scalar that is one of its elements.
    """
    if isinstance(document, list) and not isinstance(fragment, dict | list):
        return any(_contains(item, fragment) for item in document)
    return _contains(document, fragment)


def _contains(document: Any, fragment: Any) -> bool:
    if isinstance(fragment, dict):
        return isinstance(document, dict) and all(
            k in document and _contains(document[k], v) for k, v in fragment.items()
        )
    if isinstance(fragment, list):
        return isinstance(document, list) and all(
            any(_contains(d, f) for d in document) for f in fragment
        )
    if isinstance(fragment, bool) or isinstance(document, bool):
        return type(fragment) is type(document) and fragment == document
    return bool(document == fragment)
