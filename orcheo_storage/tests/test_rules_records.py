"""Versions (checksum, diff), run history and JSON-safe conversion, tokens, agentensor,
ChatKit helpers and pagination cursors."""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import PurePosixPath
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from orcheo_storage.errors import ValidationError
from orcheo_storage.models.chat import ChatContext
from orcheo_storage.models.history import HistoryStatus
from orcheo_storage.rules import agentensor, chat, history, pagination, tokens, versions
from orcheo_storage.rules.jsonsafe import RECURSION_MARKER, to_json_object, to_json_safe
from pydantic import BaseModel

NOW = datetime(2026, 7, 8, 9, 10, 11, 121314, tzinfo=UTC)
WF = uuid.uuid4()


# --- versions ---------------------------------------------------------------------------------------


def test_checksum_is_orcheos_rule() -> None:
    # Orcheo: sha256(json.dumps(graph, sort_keys=True, separators=(",", ":"))): ASCII
    # escapes, floats by repr, big integers as digits.
    graph: dict[str, Any] = {
        "b": [1, 2.5, {"y": None, "x": True}, 2.0, 1e-07, -0.0, 2**70],
        "a": "é 東京 😀",
    }
    expected = hashlib.sha256(
        json.dumps(graph, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    assert versions.graph_checksum(graph) == expected
    assert versions.graph_checksum({"a": graph["a"], "b": graph["b"]}) == expected  # key order
    assert versions.graph_checksum({"a": 1}) == (
        # Pinned: what today's Orcheo stores for this graph.
        hashlib.sha256(b'{"a":1}').hexdigest()
    )


_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([1e-7, 1e-5, 5e-5, 1e-4, 0.1, 1e15, 1e16, 1e22, 2.5e-300, -0.0])
    | st.text(alphabet=st.characters(codec="utf-8"), max_size=8)
    | st.sampled_from(["\x7f", "\x1f", "\u2028", "/", "\\", '"', "A\x7fB"])
)
_KEYS = st.text(alphabet=st.characters(codec="utf-8"), max_size=6) | st.sampled_from(
    ["a", "B", "_", "\x7f"]
)
_GRAPHS = st.dictionaries(
    _KEYS,
    st.recursive(
        _SCALARS,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
        max_leaves=20,
    ),
    max_size=6,
)


@given(_GRAPHS)
@example({"a": 1e-07})  # orjson: 1e-7
@example({"a": 1e16, "b": 1e22})  # the exponent spellings of both encoders
@example({"a": 5e-05})  # orjson: 0.00005
@example({"k": "A\x7fB"})  # DEL: escaped by the standard library only
@example({"é": 1, "e": 2})  # non-ASCII: escaped by the standard library only
def test_checksum_equals_orcheos_rule_for_any_graph(graph: dict[str, Any]) -> None:
    # Orcheo's own expression, verbatim: whichever encoder we take, the bytes are these.
    text = json.dumps(graph, sort_keys=True, separators=(",", ":"))
    assert versions.graph_checksum(graph) == hashlib.sha256(text.encode()).hexdigest()


def test_checksum_writes_a_decimal_as_its_exact_literal() -> None:
    exact = Decimal("0.1000000000000000000000001")
    want = hashlib.sha256(b'{"d":0.1000000000000000000000001,"e":"\\u00e9"}').hexdigest()
    assert versions.graph_checksum({"e": "é", "d": exact}) == want


def test_new_version_validates_and_checksums() -> None:
    v = versions.new_version(
        workflow_id=WF, number=3, graph={"n": 1}, created_by="al", now=NOW, notes="first"
    )
    assert (v.version, v.graph, v.metadata, v.runnable_config) == (3, {"n": 1}, {}, None)
    assert v.checksum == versions.graph_checksum({"n": 1})
    assert v.audit_log[0].action == "version_created"
    with pytest.raises(ValidationError) as info:
        versions.new_version(workflow_id=WF, number=1, graph={"n": "\x00"}, created_by="a", now=NOW)
    assert info.value.field == "graph.n"
    with pytest.raises(ValidationError):
        versions.new_version(workflow_id=WF, number=0, graph={}, created_by="a", now=NOW)


def test_prepare_version_input_rejects_before_anything_is_allocated() -> None:
    versions.prepare_version_input({"ok": 1}, None, None)
    bad: list[tuple[Any, Any, Any]] = [
        ({"x": float("nan")}, None, None),
        ({}, {"m": "\ud800"}, None),
        ({}, None, [1]),
    ]
    for args in bad:
        with pytest.raises(ValidationError):
            versions.prepare_version_input(*args)


def test_replace_runnable_config_is_audited() -> None:
    v = versions.new_version(workflow_id=WF, number=1, graph={}, created_by="a", now=NOW)
    set_ = versions.replace_runnable_config(v, {"tags": ["t"]}, actor="b", now=NOW)
    assert set_.runnable_config == {"tags": ["t"]}
    assert set_.audit_log[-1].action == "runnable_config_updated"
    cleared = versions.replace_runnable_config(set_, None, actor="b", now=NOW)
    assert cleared.runnable_config is None
    assert cleared.audit_log[-1].action == "runnable_config_cleared"
    assert cleared.graph == v.graph


def test_diff_is_a_unified_diff_of_pretty_sorted_json() -> None:
    base = versions.new_version(
        workflow_id=WF, number=1, graph={"b": 1, "a": Decimal("0.1000000000000000055511151231257827")},
        created_by="a", now=NOW,
    )  # fmt: skip
    target = versions.new_version(
        workflow_id=WF, number=2, graph={"a": Decimal("0.1000000000000000055511151231257827"), "b": 2},
        created_by="a", now=NOW,
    )  # fmt: skip
    diff = versions.diff_versions(base, target)
    assert (diff.base_version, diff.target_version) == (1, 2)
    assert diff.diff[:2] == ["--- v1", "+++ v2"]
    assert '-  "b": 1' in diff.diff
    assert '+  "b": 2' in diff.diff
    assert not any(line.startswith(('-  "a"', '+  "a"')) for line in diff.diff)
    assert versions.diff_versions(base, base).diff == []


# --- history and JSON-safe ------------------------------------------------------------------------------


class Colour(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int
    when: date


class Model(BaseModel):
    name: str
    at: datetime


def test_to_json_safe_conversions() -> None:
    value = {
        "dt": NOW,
        "d": date(2026, 1, 2),
        "td": timedelta(seconds=1.5),
        "uuid": WF,
        "dec": Decimal("1.25"),
        "path": PurePosixPath("/a/b"),
        "enum": Colour.RED,
        "set": {3, 1, 2},
        "mixed_set": {1, "a"},
        "tuple": (1, 2),
        "model": Model(name="m", at=NOW),
        "dc": Point(1, date(2026, 1, 1)),
        "bytes": b"\xffok",
        "other": SimpleNamespace(a=1),
        7: "int key",
    }
    safe = to_json_safe(value)
    assert isinstance(safe, dict)
    assert safe["dt"] == NOW.isoformat()
    assert safe["d"] == "2026-01-02"
    assert safe["td"] == 1.5
    assert safe["uuid"] == str(WF)
    assert safe["dec"] == "1.25"
    assert safe["path"] == "/a/b"
    assert safe["enum"] == "red"
    assert safe["set"] == [1, 2, 3]
    assert sorted(map(str, safe["mixed_set"])) == ["1", "a"]  # type: ignore[arg-type]
    assert safe["tuple"] == [1, 2]
    assert safe["model"] == {"name": "m", "at": NOW.isoformat()}
    assert safe["dc"] == {"x": 1, "when": "2026-01-01"}
    assert safe["bytes"] == "\ufffdok"
    assert safe["other"] == "namespace(a=1)"
    assert safe["7"] == "int key"
    json.dumps(safe)


def test_recursion_is_marked_not_followed() -> None:
    loop: dict[str, Any] = {"name": "loop"}
    loop["self"] = loop
    shared = [1]
    assert to_json_safe(loop) == {"name": "loop", "self": RECURSION_MARKER}
    assert to_json_safe({"a": shared, "b": shared}) == {"a": [1], "b": [1]}  # sharing is no loop


def test_non_mappings_are_wrapped_and_hostile_values_rejected() -> None:
    assert to_json_object("done") == {"value": "done"}
    assert to_json_object([1]) == {"value": [1]}
    assert to_json_object(None) == {"value": None}
    with pytest.raises(ValidationError):
        to_json_safe({"x": "nul\x00"})
    with pytest.raises(ValidationError):
        to_json_safe([float("inf")])
    for non_finite in (Decimal("NaN"), Decimal("-Infinity"), Decimal("sNaN")):
        # Decimals become strings, but a non-finite one must not turn into the text "NaN"
        with pytest.raises(ValidationError, match="non-finite"):
            to_json_safe({"x": non_finite})


def test_history_record_steps_and_finish() -> None:
    record = history.new_record(
        execution_id="e1", workflow_id="w", now=NOW, inputs="raw", callbacks=["cb"], tags=["t"]
    )
    assert record.inputs == {"value": "raw"}
    assert record.callbacks == [{"value": "cb"}]
    assert record.status is HistoryStatus.RUNNING
    assert record.started_at == NOW
    step = history.new_step(0, {"at": NOW}, NOW)
    assert step.payload == {"at": NOW.isoformat()}
    with pytest.raises(ValidationError):
        history.new_step(-1, {}, NOW)
    later = NOW + timedelta(seconds=3)
    failed = history.finish(record, HistoryStatus.ERROR, now=later, error="boom")
    assert (failed.status, failed.error, failed.completed_at) == (
        HistoryStatus.ERROR,
        "boom",
        later,
    )
    assert failed.trace_completed_at == later


# --- tokens --------------------------------------------------------------------------------------------


def test_token_hash_and_constant_time_compare() -> None:
    digest = tokens.hash_secret("s3cret")
    assert digest == hashlib.sha256(b"s3cret").hexdigest()
    assert tokens.hashes_equal(digest, tokens.hash_secret("s3cret"))
    assert not tokens.hashes_equal(digest, tokens.hash_secret("other"))
    assert not tokens.hashes_equal(digest, digest[:-1])


# --- agentensor and json_contains ------------------------------------------------------------------------


def test_new_checkpoint_and_order() -> None:
    a = agentensor.new_checkpoint(workflow_id="w", config_version=1, now=NOW, metrics={"s": 1})
    b = agentensor.new_checkpoint(workflow_id="w", config_version=2, now=NOW - timedelta(days=1))
    c = agentensor.new_checkpoint(workflow_id="w", config_version=2, now=NOW)
    ordered = sorted([a, b, c], key=agentensor.newest_first_key, reverse=True)
    assert [cp.id for cp in ordered] == [c.id, b.id, a.id]
    with pytest.raises(ValidationError):
        agentensor.new_checkpoint(workflow_id="", config_version=1, now=NOW)
    with pytest.raises(ValidationError):
        agentensor.new_checkpoint(workflow_id="w" * 129, config_version=1, now=NOW)
    with pytest.raises(ValidationError):
        agentensor.new_checkpoint(workflow_id="w", config_version=0, now=NOW)


@pytest.mark.parametrize(
    ("document", "fragment", "expected"),
    [
        ({"a": 1, "b": {"c": [1, 2, 3]}}, {"b": {"c": [3, 1]}}, True),
        ({"a": 1}, {"a": 1, "b": None}, False),
        ({"a": [{"x": 1, "y": 2}]}, {"a": [{"x": 1}]}, True),
        ({"a": 1}, {"a": 1.0}, True),
        ({"a": 1}, {"a": True}, False),
        ({"a": True}, {"a": 1}, False),
        ({"a": "1"}, {"a": 1}, False),
        ({"a": [1, 2]}, {"a": 1}, False),  # nested arrays do not contain bare scalars
        ([1, 2], 1, True),  # ... but a top-level array does (PostgreSQL's one exception)
        ([[1, 2]], [1], False),
        ({}, {}, True),
        ({"a": 1}, {}, True),
        ([], [], True),
    ],
)
def test_json_contains_examples(document: Any, fragment: Any, expected: bool) -> None:
    assert agentensor.json_contains(document, fragment) is expected


json_leaf = st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["a", "b", ""])
json_docs = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("xyz"), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(json_docs)
def test_json_contains_is_reflexive(document: Any) -> None:
    assert agentensor.json_contains(document, document)


@given(st.dictionaries(st.sampled_from("xyz"), json_docs, max_size=3), st.data())
def test_any_sub_object_is_contained(document: dict[str, Any], data: st.DataObject) -> None:
    keys = data.draw(st.lists(st.sampled_from(sorted(document) or ["x"]), unique=True))
    fragment = {k: document[k] for k in keys if k in document}
    assert agentensor.json_contains(document, fragment)


# --- chat helpers ---------------------------------------------------------------------------------------


def test_default_title_from_first_user_message() -> None:
    parts = [SimpleNamespace(text="Hello there, this is long"), SimpleNamespace(text="more")]
    assert (
        chat.default_title(SimpleNamespace(type="user_message", content=parts))
        == "Hello there, this is"
    )
    assert chat.default_title(SimpleNamespace(type="assistant_message", content=parts)) is None
    assert chat.default_title(SimpleNamespace(type="user_message", content=[])) is None


def test_metadata_merge_and_scoping() -> None:
    context = ChatContext(workflow_id="wf-1", metadata={"k": "ctx", "new": 1})
    merged = chat.merge_metadata({"k": "stored", "keep": True}, context)
    assert merged == {"k": "ctx", "keep": True, "new": 1, "workflow_id": "wf-1"}
    assert chat.merge_metadata({"workflow_id": "other"}, context)["workflow_id"] == "other"
    assert chat.thread_workflow({"workflow_id": 5}) == "5"
    assert chat.thread_workflow({}) is None
    assert chat.visible("wf-1", context)
    assert not chat.visible("wf-2", context)
    assert chat.visible(None, ChatContext())


# --- pagination ----------------------------------------------------------------------------------------


@given(st.lists(st.integers() | st.text(max_size=8), min_size=1, max_size=4))
def test_cursor_round_trip(values: list[Any]) -> None:
    cursor = pagination.encode_cursor(*values)
    assert pagination.decode_cursor(cursor, len(values)) == values


def test_cursor_stringifies_other_values_and_rejects_garbage() -> None:
    cursor = pagination.encode_cursor(NOW, WF)
    assert pagination.decode_cursor(cursor, 2) == [str(NOW), str(WF)]
    for bad in ("not base64!", pagination.encode_cursor(1), "e30="):
        with pytest.raises(ValidationError) as info:
            pagination.decode_cursor(bad, 2)
        assert info.value.field == "cursor"


@pytest.mark.parametrize("limit", [0, -1, 10_001, True, 1.5])
def test_limit_bounds(limit: Any) -> None:
    with pytest.raises(ValidationError):
        pagination.check_limit(limit)
    assert pagination.check_limit(1) == 1
    assert pagination.check_limit(10_000) == 10_000
