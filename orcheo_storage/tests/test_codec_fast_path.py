"""The fast walk of normalise_json gives exactly what the path-tracking walk gives."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from orcheo_storage.errors import ValidationError
from orcheo_storage.jsoncodec import MAX_DEPTH, _checked, _encode, dumps, loads, normalise_json

hostile_text = st.text(st.characters(codec=None, categories=["Cs", "Cc", "Lu", "Ll"]), max_size=8)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | hostile_text
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=4) | hostile_text, inner, max_size=4)
    ),
    max_leaves=20,
)


def _outcome(fn, value):
    try:
        return ("ok", fn(value))
    except ValidationError as exc:
        return ("error", str(exc))


@given(values)
def test_fast_and_checked_walks_agree(value):
    fast = _outcome(normalise_json, value)
    checked = _outcome(lambda v: _checked(v, "$", 0), value)
    assert fast[0] == checked[0]
    if fast[0] == "error":
        assert fast[1] == checked[1]
    else:
        assert fast[1] == checked[1]
        assert repr(fast[1]) == repr(checked[1])  # same types, not just equal values


def test_fast_walk_returns_a_copy():
    doc = {"a": [1, {"b": "c"}]}
    out = normalise_json(doc)
    assert out == doc
    assert out is not doc
    assert out["a"] is not doc["a"]
    assert out["a"][1] is not doc["a"][1]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"a": ["x\x00"]}, "$.a[0]: NUL characters are not allowed"),
        ({"a": [1.0, float("inf")]}, "$.a[1]: non-finite numbers (NaN, Infinity) are not allowed"),
        ({"k\ud800": 1}, "$.<key>: lone surrogates are not allowed"),
        ({1: 1}, "$: JSON object keys must be strings, got int"),
    ],
)
def test_errors_name_the_path(value, message):
    with pytest.raises(ValidationError) as info:
        normalise_json(value)
    assert str(info.value) == message


def test_depth_limit_is_the_same_on_both_walks():
    deep: object = 1
    for _ in range(MAX_DEPTH + 1):
        deep = [deep]
    with pytest.raises(ValidationError, match="nesting deeper"):
        normalise_json(deep)
    ok: object = 1
    for _ in range(MAX_DEPTH):
        ok = [ok]
    assert normalise_json(ok) == ok


def test_subclasses_and_decimals_take_the_checked_walk():
    class Tag(str):
        pass

    assert normalise_json({"d": Decimal("1.5"), "t": (Tag("x"),)}) == {"d": 1.5, "t": ["x"]}


safe_text = st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=8)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.decimals(allow_nan=False, allow_infinity=False)
    | safe_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(safe_text, inner, max_size=4),
    max_leaves=20,
)


@given(json_values, st.booleans())
def test_fast_dumps_matches_the_exact_encoder(value, sort_keys):
    normalised = normalise_json(value)
    parts: list[str] = []
    _encode(normalised, parts, sort_keys)
    assert dumps(normalised, sort_keys=sort_keys) == "".join(parts)
    assert loads(dumps(normalised)) == normalised


def test_exponent_floats_are_written_positionally():
    assert dumps({"a": 1e30, "b": 1e-7, "c": "1e+5 in text"}) == (
        '{"a":1000000000000000000000000000000.0,"b":0.0000001,"c":"1e+5 in text"}'
    )
