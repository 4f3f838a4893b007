"""The orjson fast paths give exactly what the exact standard-library paths give.

Differential properties: the same text decodes to the same values of the same types
(float vs Decimal vs int, -0.0, big integers) through ``loads`` (compact or spaced) as
through the exact decoder, or fails the same way; values encode to the same bytes
through ``dumps``/``dumps_bytes``/``encode_line``/``canonical_row`` as through the
standard-library encoders they replace.
"""

from __future__ import annotations

import hashlib
import json
import math
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from orcheo_storage.jsoncodec import (
    _dumps_exact,
    _loads_exact,
    canonical_dumps,
    dumps,
    dumps_bytes,
    loads,
)
from orcheo_storage.migration.canonical import (
    _canonical_row_stdlib,
    _encode_line_stdlib,
    canonical_bytes,
    canonical_row,
    canonical_text,
    encode_line,
    line_and_digest,
)

from orcheo_storage import _jsonfast


def typed(value: Any) -> Any:
    """A value with every scalar tagged by its type (so 1 != 1.0 != True, -0.0 != 0.0)."""
    if isinstance(value, dict):
        return ("dict", [(k, typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [typed(v) for v in value])
    if isinstance(value, float):
        return ("float", repr(value))
    if isinstance(value, Decimal):
        return ("Decimal", str(value))
    return (type(value).__name__, value)


def outcome(fn: Any, arg: Any) -> Any:
    try:
        return ("ok", typed(fn(arg)))
    except Exception as exc:
        return ("error", type(exc).__name__, str(exc))


# --- number literals and texts ------------------------------------------------------------------

literal_regex = r"-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,25})?([eE][+-]?[0-9]{1,4})?"
floats = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [5e-324, 2.2250738585072014e-308, 1e-5, 1.5e-5, 9.99e-5, 1e-4, 1e16, 1e22, 0.1 + 0.2, -0.0]
)


def _spellings(x: float) -> list[str]:
    return [
        repr(x),
        orjson.dumps(x).decode(),
        f"{x:.17g}",
        f"{x:.20e}",
        f"{x:.25f}",
        repr(x) + "0" if "e" not in repr(x) else repr(x),
        format(Decimal(x), "f"),  # the exact binary value: long, not the shortest
    ]


float_literals = st.builds(lambda x, i: _spellings(x)[i], floats, st.integers(0, 6))
int_literals = st.integers(min_value=-(2**70), max_value=2**70).map(str) | st.sampled_from(
    [str(2**63 - 1), str(2**63), str(2**64 - 1), str(2**64), str(-(2**63)), str(-(2**63) - 1)]
)
edge_literals = st.sampled_from(
    [
        "-0", "-0.0", "0.0", "1e400", "-1e400", "1e-400", "4.9e-324", "2.4703282292062328e-324",
        "1E5", "1.5E+3", "0.1e1", "100e-2", "1.0000000000000000000001", "0.10000000000000001",
        "1e-0300", "123456789012345678901234567890", "1.7976931348623157e308", "2e308",
        "0.30000000000000004", "0.3000000000000000444089209850062616169452667236328125",
        "9007199254740993", "9007199254740993.0", "1e0400", "0e-999", "-0e0",
    ]
)  # fmt: skip
literals = (
    st.from_regex(literal_regex, fullmatch=True) | float_literals | int_literals | edge_literals
)

text_in_strings = st.lists(
    st.text(st.characters(codec="utf-8", exclude_characters='"\\\x00'), max_size=4)
    | st.sampled_from(
        ["0123456789012345678", "e-300", "1.23456789012345678", "9e-4", " -1", ", 0"]
    ),
    max_size=4,
).map("".join)


@st.composite
def json_texts(draw: st.DrawFn) -> str:
    """JSON texts with number literals in every position, spaced in several ways."""
    comma, colon = draw(st.sampled_from([(",", ":"), (", ", ": "), (" ,\n", " :\t")]))

    def value(depth: int) -> str:
        kind = draw(st.integers(0, 5 if depth < 3 else 2))
        if kind <= 1:
            return draw(literals)
        if kind == 2:
            return json.dumps(draw(text_in_strings), ensure_ascii=draw(st.booleans()))
        if kind == 3:
            return draw(st.sampled_from(["true", "false", "null"]))
        if kind == 4:
            items = [value(depth + 1) for _ in range(draw(st.integers(0, 4)))]
            return "[" + comma.join(items) + "]"
        keys = draw(st.lists(text_in_strings, max_size=4))
        pairs = [json.dumps(k, ensure_ascii=False) + colon + value(depth + 1) for k in keys]
        return "{" + comma.join(pairs) + "}"

    return value(0)


def _check_decoders(text: str) -> None:
    assert outcome(loads, text) == outcome(_loads_exact, text)
    data = text.encode("utf-8", "surrogatepass")  # invalid UTF-8 when it holds surrogates
    exact = outcome(_loads_exact, data)
    assert outcome(loads, data) == exact


@given(literals)
@example("0.029171757990757108")
@example("1e-400")
@example("4.9e-324")
@example(str(2**64))
@example("-9223372036854775809")
def test_a_literal_decodes_as_the_exact_path_decodes_it(literal: str) -> None:
    for text in (literal, f"[{literal}]", f'{{"a": {literal}}}', f"[1,{literal}]", f" {literal} "):
        _check_decoders(text)


@given(json_texts())
def test_a_json_text_decodes_as_the_exact_path_decodes_it(text: str) -> None:
    _check_decoders(text)


@given(st.text(st.sampled_from('0123456789.eE+-[]{},:" \\ntruefalsnu\ud800\x00'), max_size=30))
def test_malformed_texts_fail_or_decode_as_the_exact_path(text: str) -> None:
    # Lone surrogates, NUL escapes, duplicate keys, garbage: orjson may not take over.
    _check_decoders(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "a": 2}',
        '"\\ud800"',
        '"\\u0000"',
        "NaN",
        "[Infinity]",
        "\ufeff[1]",
        '"a\x01"',
        "[1,]",
        "01",
        '{"k": "x 12345678901234567890"}',
        '{"k": "a-0.12345678901234567e-300"}',
        '["\\"", 0.1000000000000000055511151231257827]',
        "[" * 2000 + "]" * 2000,
    ],
)
def test_edge_texts_decode_as_the_exact_path(text: str) -> None:
    _check_decoders(text)


def test_long_literals_in_strings_do_not_send_the_text_to_the_slow_path() -> None:
    # Digit runs inside strings are not number literals: the fast path still decides.
    assert _jsonfast.literals_safe(b'{"id":"run-12345678901234567890","v":"x1e-300"}')
    assert not _jsonfast.literals_safe(b'{"v":0.10000000000000001}')
    assert not _jsonfast.literals_safe(b'{"v": 12345678901234567890123}')
    assert not _jsonfast.literals_safe(b"[4.9e-324]")
    assert _jsonfast.literals_safe(b"[0.029171757990757108, 1e-07]")


# --- encoders ------------------------------------------------------------------------------------

safe_text = st.text(
    st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=10
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | floats
    | st.decimals(allow_nan=False, allow_infinity=False)
    | safe_text
    | st.sampled_from(["2024-05-01T10:00:00Z", "2024-05-01T10:00:00.123456+02:00", "x\x7f\u2028"])
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(safe_text, inner, max_size=4),
    max_leaves=25,
)
rows = st.dictionaries(safe_text, values, max_size=6)


@given(values, st.booleans())
@example(1e-7, False)
@example(1.5e-5, True)
@example({"b": 1e16, "a": [2**64, -0.0]}, True)
@example({"\uffff": 1, "\U0001f600": 2, "\ue000": 3}, True)
def test_dumps_writes_what_the_exact_encoder_writes(value: Any, sort_keys: bool) -> None:
    expected = _dumps_exact(value, sort_keys)
    assert dumps(value, sort_keys=sort_keys) == expected
    assert dumps_bytes(value, sort_keys=sort_keys) == expected.encode("utf-8")


def _sorted_line_stdlib(row: dict[str, Any]) -> bytes:
    try:
        text = json.dumps(
            row, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
        )
    except TypeError:  # Decimal values: the codec's exact encoder
        text = canonical_dumps(row)
    return text.encode("utf-8") + b"\n"


@given(rows)
@example({"t": 1e-7, "u": 1.5e-5, "v": 1e16, "w": 5e-324})
@example({"at": "2024-05-01T10:00:00Z", "d": Decimal("1.10")})
def test_row_encodings_are_byte_for_byte_the_standard_librarys(row: dict[str, Any]) -> None:
    assert encode_line(row) == _encode_line_stdlib(row)
    assert canonical_row(row) == _canonical_row_stdlib(row)
    # An export's line (keys sorted) and digest from one encoding: the exact paths' bytes.
    line, digest = line_and_digest(row)
    assert line == _sorted_line_stdlib(row)
    assert digest == hashlib.sha256(_canonical_row_stdlib(row)).digest()
    assert loads(line) == loads(encode_line(row))


@given(st.lists(st.sampled_from([1.0, 0.5, None, "a"]), max_size=4), st.sampled_from(
    [math.nan, math.inf, -math.inf]
))  # fmt: skip
def test_non_finite_numbers_are_not_written_as_null(items: list[Any], bad: float) -> None:
    row = {"v": [*items, bad]}
    with pytest.raises(ValueError):
        encode_line(row)
    with pytest.raises(ValueError):
        canonical_row(row)
    with pytest.raises(ValueError):
        line_and_digest(row)
    assert dumps(row) == _dumps_exact(row, False)  # the exact path's spelling, never null


stamp_parts = st.tuples(
    st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}", fullmatch=True),
    st.sampled_from(["", ".1", ".123", ".123456", ".123456789", ".1234567890", ".١٢٣"]),
    st.sampled_from(["", "Z", "+00:00", "+02:00", "-05:30", "+0200", "+99:99"]),
)


@given(st.lists(stamp_parts | text_in_strings, max_size=5), st.booleans())
@example([("2024-05-01T10:00:00", ".123456", "+00:00")], False)
@example([("2024-13-45T10:00:00", "", "Z")], True)
def test_timestamp_rewrite_on_bytes_is_the_text_rewrite(items: list[Any], escape: bool) -> None:
    strings = ["".join(i) if isinstance(i, tuple) else i for i in items]
    text = json.dumps(strings, ensure_ascii=False, separators=(",", ":"))
    if escape:
        text = text.replace('"2', '\\"2')  # a stamp right after an escaped quote
    assert canonical_bytes(text.encode()) == canonical_text(text).encode()
