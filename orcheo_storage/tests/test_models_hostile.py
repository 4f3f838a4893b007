"""Hostile input is rejected by the models and rules themselves, before any backend sees it."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from orcheo_storage.errors import ValidationError
from orcheo_storage.models import (
    AgentensorCheckpoint,
    AuditEvent,
    ListenerSubscriptionSpec,
    RunHistoryStep,
    ServiceToken,
    Workflow,
    build,
)
from orcheo_storage.rules.history import new_record
from orcheo_storage.rules.runs import new_run
from orcheo_storage.rules.versions import new_version
from orcheo_storage.rules.workflows import new_workflow

NOW = datetime(2026, 1, 1, tzinfo=UTC)
HOSTILE_TEXT = ["a\x00b", "\x00", "x\ud800y", "\udfff"]
HOSTILE_NUMBERS = [math.nan, math.inf, -math.inf, Decimal("NaN"), Decimal("-Infinity")]

good = st.none() | st.booleans() | st.integers() | st.text(alphabet="abc", max_size=3)
hostile_leaf = st.sampled_from([*HOSTILE_TEXT, *HOSTILE_NUMBERS, {"k\x00": 1}, {"\ud800": 1}])


def _bury(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    in_list = st.tuples(st.lists(good, max_size=2), inner).map(lambda t: [*t[0], t[1]])
    in_dict = st.tuples(st.dictionaries(st.sampled_from("pq"), good, max_size=2), inner).map(
        lambda t: {**t[0], "r": t[1]}
    )
    return in_list | in_dict


hostile_docs = st.recursive(hostile_leaf, _bury, max_leaves=5).map(lambda v: {"doc": v})


@given(hostile_docs)
def test_every_json_field_rejects_hostile_documents(doc: dict[str, Any]) -> None:
    attempts: list[Callable[[], object]] = [
        lambda: new_version(workflow_id=uuid.uuid4(), number=1, graph=doc, created_by="a", now=NOW),
        lambda: new_version(
            workflow_id=uuid.uuid4(), number=1, graph={}, metadata=doc, created_by="a", now=NOW
        ),
        lambda: new_run(
            workflow_id=uuid.uuid4(),
            version_id=uuid.uuid4(),
            version_config=None,
            triggered_by="a",
            now=NOW,
            input_payload=doc,
        ),
        lambda: new_run(
            workflow_id=uuid.uuid4(),
            version_id=uuid.uuid4(),
            version_config=doc,
            triggered_by="a",
            now=NOW,
        ),
        lambda: new_record(execution_id="e", workflow_id="w", now=NOW, inputs=doc),
        lambda: build(RunHistoryStep, index=0, at=NOW, payload=doc),
        lambda: build(AuditEvent, actor="a", action="x", at=NOW, metadata=doc),
        lambda: build(
            AgentensorCheckpoint,
            id=uuid.uuid4(),
            workflow_id="w",
            config_version=1,
            metrics=doc,
            created_at=NOW,
        ),
        lambda: build(
            ListenerSubscriptionSpec, node_name="n", platform="p", bot_identity_key="b", config=doc
        ),
    ]
    for attempt in attempts:
        with pytest.raises(ValidationError):
            attempt()


@pytest.mark.parametrize("text", HOSTILE_TEXT)
def test_text_fields_reject_nul_and_lone_surrogates(text: str) -> None:
    with pytest.raises(ValidationError) as info:
        new_workflow(name=f"ok {text}", actor="a", now=NOW)
    assert info.value.field == "name"
    with pytest.raises(ValidationError):
        new_workflow(name="ok", actor="a", now=NOW, tags=[text])
    with pytest.raises(ValidationError):
        new_workflow(name="ok", actor="a", now=NOW, description=text)
    with pytest.raises(ValidationError) as info:
        build(ServiceToken, identifier=text, secret_hash="0" * 64, issued_at=NOW)
    assert info.value.field == "identifier"


def test_models_are_frozen_and_forbid_unknown_fields() -> None:
    wf = new_workflow(name="ok", actor="a", now=NOW)
    with pytest.raises(Exception, match="frozen"):
        wf.name = "changed"  # type: ignore[misc]
    with pytest.raises(ValidationError) as info:
        build(Workflow, **{**wf.model_dump(), "surprise": 1})
    assert info.value.field == "surprise"


def test_naive_datetimes_are_read_as_utc_with_microseconds() -> None:
    naive = datetime(2026, 2, 3, 4, 5, 6, 789012)
    event = build(AuditEvent, actor="a", action="x", at=naive)
    assert event.at == naive.replace(tzinfo=UTC)
    assert event.at.microsecond == 789012


def test_service_token_hash_must_be_sha256_hex() -> None:
    with pytest.raises(ValidationError) as info:
        build(ServiceToken, identifier="t", secret_hash="raw-secret", issued_at=NOW)
    assert info.value.field == "secret_hash"
