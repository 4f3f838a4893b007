"""orjson fast paths for :mod:`orcheo_storage.jsoncodec`, taken only when provably exact.

orjson is several times faster than the standard library, but it is not the codec:
it rounds long float literals silently, reads integers beyond 64 bits as floats, writes
NaN and infinities as ``null`` and spells some floats differently. So each helper here
answers "is orjson's result exactly what the exact path would give?" cheaply, and the
callers in :mod:`~orcheo_storage.jsoncodec` and :mod:`~orcheo_storage.migration.canonical`
fall back to the exact path whenever the answer is not a sure yes.

Decoding (:func:`literals_safe`): orjson reads a float literal to the correctly rounded
double, as ``float(literal)`` does. The codec does the same unless the literal is not the
shortest spelling of that double (it then keeps the exact ``Decimal``), and reads integers
of any size exactly. A literal whose sign, digits and point take at most 15 characters and
whose exponent is above -100 always reads back as the same double in both, so only longer
literals and three-digit exponents are looked at. They are found without a Python loop
over the text: :meth:`bytes.translate` maps digits, point and minus to ``0`` and what may
precede a JSON value (``,`` ``[`` whitespace) to ``:``, so every long literal is a match
of the literal-prefixed pattern ``0000000000000000`` (scanned in C) right after a ``:``.
Runs inside strings that do not follow such a character are skipped; the ones that do are
checked too (harmless). The found literals are checked together (``repr(float(t)) == t``,
C-level ``map``) and one by one only when that fails. :func:`decode` first tries the
cheaper proof for compact text: orjson writing the value back as exactly the same bytes.

Encoding (:func:`encode`): orjson output is used unless it holds ``null`` that is not a
``None`` (a NaN or an infinity, found by reading the output back), or the value holds
something orjson cannot write (big integers, ``Decimal``, subclasses, datetimes: it raises).
Float spelling is left to the callers (:func:`has_exponent`, :func:`has_tiny_positional`).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

# Digits, point and minus become b"0", "E" b"e", what may precede a value b":".
_SHAPE = bytes.maketrans(b"123456789.-E,[ \t\n\r", b"00000000000e::::::")
_LONG = re.compile(b"0" * 16 + rb"[0e+]*")
# Three-digit exponents (negative ones reach subnormals and underflow to zero), after
# the mantissa's last digit.
_BIG_EXPONENT = b"0e000"
_NUMBER = re.compile(rb"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1
_ENCODE_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def _literal_safe(token: bytes) -> bool:
    """Whether orjson reads ``token`` (if it is a JSON number) to exactly the codec's value."""
    try:
        as_float = float(token)
    except ValueError:
        return False
    match = _NUMBER.fullmatch(token)
    if match is None:
        return False  # not a number as orjson would read it: let the exact path decide
    if match.group(1) is None and match.group(2) is None:
        return _INT_MIN <= int(token) <= _INT_MAX
    text = token.decode("ascii")
    try:
        exact = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the regex admits only valid literals
        return False
    if as_float in (float("inf"), float("-inf")):
        return False
    if exact.as_tuple().exponent >= 0:  # type: ignore[operator]
        return True  # the codec reads these with float(literal), as orjson does
    # The codec keeps a Decimal unless the double's shortest spelling is the same number.
    return repr(as_float) == text or Decimal(repr(as_float)) == exact


def _exponent_tokens(data: bytes, shape: bytes) -> list[bytes]:
    tokens: list[bytes] = []
    at = shape.find(_BIG_EXPONENT)
    while at != -1:
        start, end = at, at + len(_BIG_EXPONENT)
        while shape[start - 1] == 0x30:  # b"0"; shape[0] is the prepended b":"
            start -= 1
        while end < len(shape) and shape[end] in b"0e+":
            end += 1
        if shape[start - 1] == 0x3A:  # b":": a literal, not digits inside a string
            tokens.append(data[start - 1 : end - 1])
        at = shape.find(_BIG_EXPONENT, end)
    return tokens


def literals_safe(data: bytes) -> bool:
    """Whether every number literal in the JSON text ``data`` reads the same in orjson."""
    shape = (b":" + data).translate(_SHAPE)  # index i of shape is index i - 1 of data
    spans = [m.span() for m in _LONG.finditer(shape)]
    # A run right after b":" is a literal (or digits inside a string after one of those).
    tokens = [data[start - 1 : end - 1] for start, end in spans if shape[start - 1] == 0x3A]
    if _BIG_EXPONENT in shape:
        tokens += _exponent_tokens(data, shape)
    if not tokens:
        return True
    try:
        # The common case: every one written by repr(), the shortest spelling.
        if ",".join(map(repr, map(float, tokens))).encode("ascii") == b",".join(tokens):
            return True
    except ValueError:
        pass
    return all(_literal_safe(token) for token in tokens)


NOT_EXACT: Any = object()
"""What :func:`decode` returns when only the exact path may decide."""


def decode(data: bytes) -> Any:
    """orjson's reading of ``data``, or :data:`NOT_EXACT`.

    When orjson writes back exactly ``data`` (compact text it or the codec wrote), every
    float literal in it is the shortest spelling of its double (the codec reads those as
    floats too) and every integer fits in 64 bits (larger ones come back as floats,
    spelled differently): no literal needs a look. Otherwise :func:`literals_safe` decides.
    The write-back is only tried on text that looks compact (no ``": `` after its first key).
    """
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return NOT_EXACT
    if data.find(b'": ', 0, 256) == -1 and orjson.dumps(value) == data:
        return value
    return value if literals_safe(data) else NOT_EXACT


def encode(value: Any, *, sort_keys: bool) -> bytes | None:
    """orjson's compact encoding of ``value``, or ``None`` when it may not be faithful."""
    options = _ENCODE_OPTIONS | orjson.OPT_SORT_KEYS if sort_keys else _ENCODE_OPTIONS
    try:
        out = orjson.dumps(value, option=options)
    except orjson.JSONEncodeError:
        return None
    # NaN and infinities come out as null: read back, a null that was a float differs.
    if b"null" in out and orjson.loads(out) != value:
        return None
    return out


_DIGIT = frozenset(b"0123456789")
_BEFORE_NUMBER = frozenset(b":,[")


def _literal_start(data: bytes, end: int) -> bool:
    """Whether the digits and point ending before ``end`` begin a number literal."""
    start = end
    while start > 0 and (data[start - 1] in _DIGIT or data[start - 1] == 0x2E):
        start -= 1
    if start > 0 and data[start - 1] == 0x2D:  # a minus sign
        start -= 1
    return start == 0 or data[start - 1] in _BEFORE_NUMBER


EXPONENT_SHAPE = bytes.maketrans(b"123456789+", b"000000000-")
"""Digits to ``0`` and ``+`` to ``-``: ``data.translate(EXPONENT_SHAPE)`` is the ``shape``
:func:`has_exponent` scans (a caller that needs the same shape passes it in)."""


def has_exponent(data: bytes, shape: bytes | None = None) -> bool:
    """Whether orjson output ``data`` holds a float with an exponent.

    orjson always writes a lowercase ``e`` and the exponent's sign (``1e+16``, ``1e-7``).
    A digit, ``e`` and a sign count when the digits before them start a literal (UUID-like
    text in strings mostly does not; when it does, the caller only takes its slow path).
    """
    if shape is None:
        shape = data.translate(EXPONENT_SHAPE)
    at = shape.find(b"0e-")
    while at != -1:
        if _literal_start(data, at + 1):
            return True
        at = shape.find(b"0e-", at + 3)
    return False


def has_tiny_positional(data: bytes) -> bool:
    """Whether compact JSON ``data`` holds a literal ``0.0000...`` (orjson writes floats in
    ``[1e-5, 1e-4)`` positionally where ``repr`` uses an exponent)."""
    at = data.find(b"0.0000")
    while at != -1:
        before = at - 1 if at > 0 and data[at - 1] == 0x2D else at  # a minus sign
        if before == 0 or data[before - 1] in _BEFORE_NUMBER:
            return True
        at = data.find(b"0.0000", at + 6)
    return False
