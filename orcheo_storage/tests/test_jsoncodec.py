"""The JSON codec: exact round-trips, canonical numbers, hostile input rejected."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from orcheo_storage.errors import ValidationError
from orcheo_storage.jsoncodec import (
    MAX_DEPTH,
    canonical_dumps,
    check_text,
    dumps,
    loads,
    normalise_json,
    normalise_object,
)

# Any unicode except NUL; hypothesis' text() never yields lone surrogates by default.
safe_text = st.text(
    alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"]), max_size=12
)

finite_floats = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [1e30, 5e-324, -0.0, 1e308, 2.0**53 + 2, 0.1]
)
finite_decimals = st.decimals(allow_nan=False, allow_infinity=False, places=None) | st.sampled_from(
    [Decimal("3.14159265358979323846264338327950288"), Decimal("1E-400"), Decimal("12345.6789")]
)
big_ints = st.integers() | st.integers(min_value=2**63, max_value=2**200).map(lambda v: -v)

json_scalars = st.none() | st.booleans() | big_ints | finite_floats | finite_decimals | safe_text
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(safe_text, inner, max_size=4),
    max_leaves=20,
)
json_objects = st.dictionaries(safe_text, json_values, max_size=5)

hostile_leaves: st.SearchStrategy[Any] = st.sampled_from(
    [
        "nul\x00inside",
        "\x00",
        "lone \ud800 surrogate",
        "\udfff",
        math.nan,
        math.inf,
        -math.inf,
        Decimal("NaN"),
        Decimal("Infinity"),
        Decimal("-Infinity"),
        Decimal("sNaN"),
        {"key\x00": 1},
        {"\udc80": "value"},
    ]
)


def _bury(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    in_list = st.tuples(st.lists(json_values, max_size=2), inner, st.lists(json_values, max_size=2))
    in_dict = st.tuples(st.dictionaries(safe_text, json_values, max_size=2), safe_text, inner)
    return in_list.map(lambda t: [*t[0], t[1], *t[2]]) | in_dict.map(lambda t: {**t[0], t[1]: t[2]})


hostile_values = st.recursive(hostile_leaves, _bury, max_leaves=6)
"""A JSON-shaped document with exactly one hostile leaf or key buried somewhere in it."""


def same(a: Any, b: Any) -> bool:
    """Equal values of the same types all the way down (so 1 != 1.0 != Decimal(1))."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return bool(a == b)


def _sort_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sort_keys(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sort_keys(v) for v in value]
    return value


def numerically_equal(original: Any, canonical: Any) -> bool:
    if isinstance(original, bool) or original is None or isinstance(original, str):
        return bool(original == canonical)
    if isinstance(original, int | float | Decimal):
        # A float stands for its shortest repr, the literal it is written as.
        def exact(v: Any) -> Decimal:
            return Decimal(repr(v)) if isinstance(v, float) else Decimal(v)

        return exact(original) == exact(canonical)
    if isinstance(original, dict):
        return all(numerically_equal(original[k], canonical[k]) for k in original)
    return all(numerically_equal(x, y) for x, y in zip(original, canonical, strict=True))


@given(json_values)
def test_round_trip_is_exact(value: Any) -> None:
    canonical = normalise_json(value)
    assert same(loads(dumps(canonical)), canonical)
    sorted_back = loads(canonical_dumps(canonical))
    assert same(sorted_back, canonical) or same(_sort_keys(sorted_back), _sort_keys(canonical))


@given(json_values)
def test_normalise_keeps_every_number_exactly_and_is_idempotent(value: Any) -> None:
    canonical = normalise_json(value)
    assert numerically_equal(value, canonical)
    assert same(normalise_json(canonical), canonical)


@given(json_values)
def test_output_is_valid_json_for_other_parsers(value: Any) -> None:
    text = dumps(normalise_json(value))
    constants: list[str] = []
    json.loads(text, parse_constant=constants.append)  # a standard parser accepts it
    assert constants == []  # no NaN / Infinity literals


@given(json_objects)
def test_canonical_dumps_sorts_keys_and_is_compact(doc: dict[str, Any]) -> None:
    text = canonical_dumps(normalise_object(doc, "$"))
    parsed = json.loads(text, parse_float=Decimal)
    assert list(parsed) == sorted(parsed)
    assert canonical_dumps(normalise_object(dict(reversed(list(doc.items()))), "$")) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1e30, "1000000000000000000000000000000.0"),
        (0.1, "0.1"),
        (2**80, "1208925819614629174706176"),
        (-(2**100), "-1267650600228229401496703205376"),
        (Decimal("3.14159265358979323846264338327950288"), "3.14159265358979323846264338327950288"),
        ("żółw 🐢 \u2028", '"żółw 🐢 \u2028"'),
        (True, "true"),
        (None, "null"),
    ],
)
def test_known_encodings(value: Any, text: str) -> None:
    canonical = normalise_json(value)
    assert dumps(canonical) == text
    assert same(loads(text), canonical)


def test_smallest_subnormal_survives() -> None:
    text = dumps(normalise_json(5e-324))
    assert "e" not in text.lower()
    assert same(loads(text), 5e-324)


def test_float_literal_as_printed_by_postgres_numeric_stays_a_float() -> None:
    # JSONB prints 1e30 as an integer-looking numeric with ".0"; it must decode as the float
    assert same(loads("1000000000000000000000000000000.0"), 1e30)
    assert same(loads("1E+30"), 1e30)


@pytest.mark.parametrize(
    ("given_value", "expected"),
    [
        (Decimal("1.10"), 1.1),
        (Decimal("1E+3"), 1000),
        (
            Decimal("0.1000000000000000055511151231257827"),
            Decimal("0.1000000000000000055511151231257827"),
        ),
        (Decimal("1E-400"), Decimal("1E-400")),
    ],
)
def test_decimals_become_what_they_read_back_as(given_value: Decimal, expected: Any) -> None:
    canonical = normalise_json(given_value)
    assert same(canonical, expected)
    assert same(loads(dumps(canonical)), expected)


def test_normalise_returns_fresh_copies() -> None:
    original = {"a": [1, {"b": 2}]}
    canonical = normalise_json(original)
    assert isinstance(canonical, dict)
    canonical["a"][1]["b"] = 3  # type: ignore[index,call-overload]
    assert original == {"a": [1, {"b": 2}]}


def test_tuples_become_lists() -> None:
    assert normalise_json({"t": (1, "x")}) == {"t": [1, "x"]}


@given(hostile_values)
def test_hostile_input_anywhere_is_rejected(value: Any) -> None:
    with pytest.raises(ValidationError):
        normalise_json(value)


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"a": {"b": ["ok", "x\x00"]}}, "$.a.b[1]"),
        ({"a": math.nan}, "$.a"),
        ([1, 2, Decimal("Infinity")], "$[2]"),
        ({"k\ud800": 1}, "$.<key>"),
    ],
)
def test_rejection_names_the_offending_path(value: Any, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        normalise_json(value)
    assert info.value.field == field
    assert str(info.value).startswith(field + ": ")


@pytest.mark.parametrize("value", [{1: "int key"}, {"a": object()}, {"a": b"bytes"}, {"s": {1, 2}}])
def test_non_json_values_are_rejected(value: Any) -> None:
    with pytest.raises(ValidationError):
        normalise_json(value)


def test_nesting_limit() -> None:
    deep: Any = 0
    for _ in range(MAX_DEPTH + 2):
        deep = [deep]
    with pytest.raises(ValidationError, match="deeper"):
        normalise_json(deep)
    ok: Any = 0
    for _ in range(MAX_DEPTH):
        ok = [ok]
    assert normalise_json(ok) == ok


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a": -Infinity}'])
def test_loads_rejects_non_finite_constants(text: str) -> None:
    with pytest.raises(ValidationError, match="non-finite"):
        loads(text)


def test_normalise_object_requires_an_object() -> None:
    assert normalise_object(None, "metadata") == {}
    with pytest.raises(ValidationError) as info:
        normalise_object([1, 2], "metadata")  # type: ignore[arg-type]
    assert info.value.field == "metadata"


@given(safe_text)
def test_check_text_accepts_safe_text(text: str) -> None:
    assert check_text(text) == text


@given(
    st.text(max_size=5),
    st.sampled_from(["\x00", "\ud800", "\udbff", "\udc00"]),
    st.text(max_size=5),
)
def test_check_text_rejects_nul_and_lone_surrogates(before: str, bad: str, after: str) -> None:
    with pytest.raises(ValidationError):
        check_text(before + bad + after, "name")


def test_validation_error_is_a_value_error_and_storage_error() -> None:
    from orcheo_storage.errors import StorageError

    with pytest.raises(ValidationError) as info:
        check_text("\x00", "name")
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, StorageError)
    assert info.value.field == "name"


@pytest.mark.parametrize("literal", ["1e400", "-1E999", "1.5e309"])
def test_literals_beyond_the_float_range_read_back_exactly_not_as_infinity(literal: str) -> None:
    value = loads(literal)
    assert value == normalise_json(Decimal(literal))
    assert isinstance(value, int)
    assert loads(dumps(value)) == value  # writable and stable, unlike an infinity
