"""Workflow versions: checksum, construction, runnable-config replacement and diff."""

from __future__ import annotations

import difflib
import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from orcheo_storage import _jsonfast
from orcheo_storage.jsoncodec import JsonObject, canonical_dumps, loads, normalise_object
from orcheo_storage.models.common import build
from orcheo_storage.models.workflows import VersionDiff, WorkflowVersion
from orcheo_storage.rules.workflows import audit


def graph_checksum(graph: JsonObject) -> str:
    """Orcheo's checksum of a graph, bit for bit.

    ``sha256(json.dumps(graph, sort_keys=True, separators=(",", ":")).encode())`` with the
    standard library's other defaults: non-ASCII escaped as ``\\uXXXX``, floats written by
    ``repr`` (``1e-07``), integers of any size as digits. So a checksum taken here equals the
    one today's Orcheo (and its clients) compute for the same graph. A
    :class:`~decimal.Decimal` (a number no float holds exactly, which Orcheo itself cannot
    store) is written as its exact literal.
    """
    fast = _orjson_spelling(graph)
    if fast is not None:
        return hashlib.sha256(fast).hexdigest()
    try:
        text = _ORCHEO_ENCODER.encode(graph)
    except TypeError:
        text = "".join(_orcheo_json(graph))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_ORCHEO_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False)


def _orjson_spelling(graph: JsonObject) -> bytes | None:
    """orjson's sorted encoding of ``graph`` when it is byte for byte the standard library's
    (several times faster on a typical graph), else ``None``.

    The two agree on ASCII text without DEL (the standard library escapes every non-ASCII
    character and DEL, orjson writes them raw), on integers within 64 bits and on floats
    that both write positionally with their shortest digits (see
    :mod:`orcheo_storage._jsonfast`); ASCII keys sort the same by code point and by byte.
    """
    out = _jsonfast.encode(graph, sort_keys=True)
    if (
        out is None
        or not out.isascii()
        or b"\x7f" in out
        or _jsonfast.has_exponent(out)
        or _jsonfast.has_tiny_positional(out)
    ):
        return None
    return out


def _orcheo_json(value: Any) -> Iterator[str]:
    """``json.dumps(value, sort_keys=True, separators=(",", ":"))`` that also writes Decimals."""
    if isinstance(value, Decimal):
        yield format(value, "f") if value.as_tuple().exponent < 0 else str(value)  # type: ignore[operator]
    elif isinstance(value, dict):
        yield "{"
        for i, key in enumerate(sorted(value)):
            yield ("," if i else "") + json.dumps(key) + ":"
            yield from _orcheo_json(value[key])
        yield "}"
    elif isinstance(value, list):
        yield "["
        for i, item in enumerate(value):
            if i:
                yield ","
            yield from _orcheo_json(item)
        yield "]"
    else:
        yield json.dumps(value, allow_nan=False)


def new_version(
    *,
    workflow_id: uuid.UUID,
    number: int,
    graph: dict[str, Any],
    created_by: str,
    now: datetime,
    metadata: dict[str, Any] | None = None,
    runnable_config: dict[str, Any] | None = None,
    notes: str | None = None,
    version_id: uuid.UUID | None = None,
) -> WorkflowVersion:
    """Build version ``number`` of a workflow (the backend allocates ``number`` atomically).

    Raises:
        ValidationError: the graph is not a JSON object or holds hostile input.
    """
    # The model validates (and normalises) the graph once; the checksum is then taken of
    # exactly what is stored.
    version = build(
        WorkflowVersion,
        id=version_id or uuid.uuid4(),
        workflow_id=workflow_id,
        version=number,
        graph=graph,
        metadata=metadata or {},
        runnable_config=runnable_config,
        notes=notes,
        created_by=created_by,
        created_at=now,
        updated_at=now,
        checksum="",
        audit_log=[audit(created_by, "version_created", now)],
    )
    return version.model_copy(update={"checksum": graph_checksum(version.graph)})


def prepare_version_input(
    graph: dict[str, Any], metadata: dict[str, Any] | None, runnable_config: dict[str, Any] | None
) -> None:
    """Validate version input before a backend allocates a number (so rejects write nothing).

    Raises:
        ValidationError: hostile or non-JSON input.
    """
    normalise_object(graph, "graph")
    normalise_object(metadata, "metadata")
    if runnable_config is not None:
        normalise_object(runnable_config, "runnable_config")


def replace_runnable_config(
    version: WorkflowVersion, config: dict[str, Any] | None, *, actor: str, now: datetime
) -> WorkflowVersion:
    """Replace (or clear, with ``None``) a version's runnable_config, audited."""
    clean = None if config is None else normalise_object(config, "runnable_config")
    event = audit(
        actor, "runnable_config_updated" if clean is not None else "runnable_config_cleared", now
    )
    return build(
        WorkflowVersion,
        **{
            **version.model_dump(),
            "runnable_config": clean,
            "updated_at": now,
            "audit_log": [*version.audit_log, event],
        },
    )


def _pretty(graph: JsonObject) -> list[str]:
    # Round-trip through our codec so Decimals print exactly, then pretty-print.
    plain = json.loads(canonical_dumps(graph))
    return json.dumps(plain, indent=2, sort_keys=True, ensure_ascii=False).splitlines()


def diff_versions(base: WorkflowVersion, target: WorkflowVersion) -> VersionDiff:
    """Unified text diff of two versions' graphs (pretty JSON, sorted keys)."""
    lines = list(
        difflib.unified_diff(
            _pretty(base.graph),
            _pretty(target.graph),
            fromfile=f"v{base.version}",
            tofile=f"v{target.version}",
            lineterm="",
        )
    )
    return VersionDiff(
        workflow_id=base.workflow_id,
        base_version=base.version,
        target_version=target.version,
        diff=lines,
    )


__all__ = ["diff_versions", "graph_checksum", "loads", "new_version", "replace_runnable_config"]
