"""Shared Hypothesis strategies: valid JSON and text, aware timestamps, hostile input."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

# Everything a backend must store faithfully: any code point except NUL and surrogates.
SAFE_CHARACTERS = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")

safe_text = st.text(SAFE_CHARACTERS, max_size=40)
"""Unicode text every backend must round-trip (no NUL, no lone surrogates)."""

nonblank_text = st.text(SAFE_CHARACTERS, min_size=1, max_size=40).filter(lambda s: s.strip() != "")
"""Unicode text that is not blank after stripping."""

identifiers = st.text(string.ascii_lowercase + string.digits + "-_.", min_size=1, max_size=24)
"""Plain identifiers (actors, runtime ids, keys) that need no normalisation."""

big_ints = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=2**64, max_value=10**40),
    st.integers(min_value=-(10**40), max_value=-(2**64)),
)
"""Integers including ones far beyond 64 bits."""

exact_decimals = st.decimals(
    allow_nan=False,
    allow_infinity=False,
    min_value=Decimal("-1e30"),
    max_value=Decimal("1e30"),
    places=12,
)
"""Finite decimals with up to 12 fractional digits (exactness matters, not range)."""

finite_floats = st.floats(allow_nan=False, allow_infinity=False)

json_scalars: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.booleans(), big_ints, finite_floats, exact_decimals, safe_text
)

json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(safe_text, children, max_size=4),
    ),
    max_leaves=20,
)
"""Any JSON value: big ints, exact Decimals, floats, unicode keys and strings, nesting."""

json_objects: st.SearchStrategy[dict[str, Any]] = st.dictionaries(
    safe_text, json_values, max_size=5
)
"""A JSON object (what graphs, payloads, configs and metadata are)."""


@st.composite
def deep_json(draw: st.DrawFn, min_depth: int = 20, max_depth: int = 120) -> dict[str, Any]:
    """A JSON object nested ``min_depth..max_depth`` levels deep (under the core's limit)."""
    depth = draw(st.integers(min_value=min_depth, max_value=max_depth))
    leaf = draw(json_scalars)
    value: Any = leaf
    for i in range(depth):
        value = {f"k{i}": value} if i % 2 else [value]
    return {"root": value}


def too_deep_json(depth: int = 300) -> dict[str, Any]:
    """A JSON object nested past the core's ``MAX_DEPTH``: must be rejected (oversize)."""
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return {"root": value}


_offsets = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)

aware_datetimes = st.datetimes(
    min_value=datetime(1971, 1, 2), max_value=datetime(2200, 1, 1), timezones=_offsets
)
"""Aware datetimes in arbitrary fixed offsets, with microseconds."""

utc_datetimes = st.datetimes(
    min_value=datetime(1971, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
"""Aware UTC datetimes with microseconds."""

# --- hostile input ------------------------------------------------------------------------------

lone_surrogates = st.characters(categories=["Cs"])
"""Lone surrogate code points, requested explicitly (Hypothesis never makes them otherwise)."""


@st.composite
def hostile_text(draw: st.DrawFn) -> str:
    """Text that holds a NUL character or a lone surrogate somewhere inside it."""
    prefix = draw(st.text(SAFE_CHARACTERS, max_size=8))
    suffix = draw(st.text(SAFE_CHARACTERS, max_size=8))
    bad = draw(st.one_of(st.just("\x00"), lone_surrogates))
    return prefix + bad + suffix


non_finite_numbers: st.SearchStrategy[Any] = st.sampled_from(
    [
        float("nan"),
        float("inf"),
        float("-inf"),
        Decimal("NaN"),
        Decimal("Infinity"),
        Decimal("-Infinity"),
    ]
)
"""NaN and infinities, as floats and as Decimals."""


@st.composite
def hostile_json(draw: st.DrawFn) -> dict[str, Any]:
    """A JSON object with one hostile value (text, key or number) buried somewhere in it."""
    poison = draw(
        st.one_of(
            hostile_text().map(lambda s: ("value", s)),
            hostile_text().map(lambda s: ("key", s)),
            non_finite_numbers.map(lambda n: ("value", n)),
        )
    )
    kind, bad = poison
    inner: Any = {bad: 1} if kind == "key" else bad
    depth = draw(st.integers(min_value=0, max_value=3))
    for i in range(depth):
        inner = draw(st.sampled_from([[inner], {f"n{i}": inner}]))
    base = draw(st.dictionaries(safe_text, json_scalars, max_size=3))
    return {**base, "\u2603hostile": inner}


# Decimals are turned into strings by the JSON-safe rule (so Decimal('NaN') is just text
# in a trace); hostile history input is hostile text, hostile keys and non-finite floats.
hostile_history_json = st.one_of(
    hostile_text().map(lambda s: {"k": s}),
    hostile_text().map(lambda s: {"nested": [{s: 1}]}),
    st.sampled_from([float("nan"), float("inf"), float("-inf")]).map(lambda f: {"n": [f]}),
)

# --- fidelity: values a backend gets subtly wrong -------------------------------------------------

TRICKY_KEYS = (
    "é",
    "e\u0301",
    "ключ",
    "键",
    "\U0001f511",
    "Key",
    "key",
    "\uff4b\uff45\uff59",
    "",
    " ",
    "a.b",
    "$x",
)
"""Object keys that collide under careless handling: NFC and NFD forms of one letter, case
and width variants, the empty key, non-BMP and right-to-left scripts, JSON-path syntax."""

tricky_scalars: st.SearchStrategy[Any] = st.sampled_from(
    [
        2.0,
        2,
        -0.0,
        0.0,
        0,
        1e-07,
        1.5e300,
        -2.5,
        0.1,
        True,
        False,
        None,
        2**53 + 1,
        2**63,
        2**64 + 1,
        -(10**30),
        Decimal("0.1000000000000000000000000001"),
        "2.0",
        "",
        "\u05e9\u05dc\u05d5\u05dd",
    ]
)
"""Scalars whose type or exact value a lossy backend changes: ``2.0`` vs ``2``, signed zero,
integers past 2**53 and 2**64, exact decimals, booleans next to 0 and 1, numeric strings."""

fidelity_values: st.SearchStrategy[Any] = st.recursive(
    st.one_of(tricky_scalars, json_scalars),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(TRICKY_KEYS) | safe_text, children, max_size=3),
    ),
    max_leaves=10,
)
"""JSON values of every type, biased towards the ones that do not survive a lossy store."""

fidelity_objects: st.SearchStrategy[dict[str, Any]] = st.dictionaries(
    st.sampled_from(TRICKY_KEYS) | safe_text, fidelity_values, max_size=4
)
"""A JSON object built from :data:`fidelity_values`."""
