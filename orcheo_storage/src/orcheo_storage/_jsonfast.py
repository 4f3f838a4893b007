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
of any size exactly. A literal with at most 15 digits and an exponent below 100 always
reads back as the same double in both, so only literals with 16 or more digit characters
or a three-digit exponent are looked at one by one. Those are found without a regular
expression scan of the whole text: digits are mapped to ``0`` with :meth:`bytes.translate`
and runs are found with :meth:`bytes.find`. A token counts as a number literal only when
what precedes it could precede a JSON value (``:``, ``,``, ``[``, whitespace or the start);
every real literal is therefore checked, and digit runs inside strings mostly skip the check.

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

# Digits and the point become b"0" and "E" b"e": number shapes are then runs.
_SHAPE = bytes.maketrans(b"123456789.E", b"0000000000e")
_LONG_RUN = re.compile(b"0" * 16 + rb"[0e+-]*")
# Negative exponents of three digits (subnormals, underflow); big positive ones read the
# same (float(literal)) or make orjson refuse an infinity.
_SMALL_EXPONENT = b"e-000"
_TOKEN = frozenset(b"0e+-")
_TAIL = re.compile(rb"[0e+-]*")
_BEFORE_VALUE = frozenset(b":,[ \t\n\r")
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


def literals_safe(data: bytes) -> bool:
    """Whether every number literal in the JSON text ``data`` reads the same in orjson."""
    shape = data.translate(_SHAPE)
    spans = [m.span() for m in _LONG_RUN.finditer(shape)]  # a literal prefix: scanned in C
    at = shape.find(_SMALL_EXPONENT)
    while at != -1:
        end = _TAIL.match(shape, at + 1).end()  # type: ignore[union-attr]
        spans.append((at, end))
        at = shape.find(_SMALL_EXPONENT, end)
    for start, end in spans:
        while start > 0 and shape[start - 1] in _TOKEN:
            start -= 1
        if start > 0 and data[start - 1] not in _BEFORE_VALUE:
            continue  # inside a string: not a number literal
        token = data[start:end]
        try:
            if repr(float(token)).encode("ascii") == token:
                continue  # the common case: written by repr(), the shortest spelling
        except ValueError:
            return False
        if not _literal_safe(token):
            return False
    return True


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


_EXPONENT_SHAPE = bytes.maketrans(b"123456789+", b"000000000-")


def has_exponent(data: bytes) -> bool:
    """Whether orjson output ``data`` holds a float with an exponent.

    orjson always writes a lowercase ``e`` and the exponent's sign (``1e+16``, ``1e-7``).
    A digit, ``e`` and a sign count when the digits before them start a literal (UUID-like
    text in strings mostly does not; when it does, the caller only takes its slow path).
    """
    shape = data.translate(_EXPONENT_SHAPE)
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
