"""The one JSON codec every backend uses, and the hostile-input checks behind it.

Why a codec of our own: stored JSON must come back exactly as it went in on every
backend. Big integers already do with the standard library. Non-integer numbers
are the hard part: PostgreSQL's JSONB stores them as ``numeric`` and prints
``1e+30`` back as ``1000000000000000000000000000000``, which would decode as an
``int``. So floats are always written in positional notation with a fraction part,
and decoding picks ``float`` when the float reproduces the literal exactly and
:class:`~decimal.Decimal` otherwise. :func:`normalise_json` applies the same rule to
incoming values, so what a store returns on create equals what it returns on read.

Hostile input (NUL characters, lone surrogates, NaN and infinities) is rejected
with :class:`~orcheo_storage.errors.ValidationError` before any backend sees it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeAlias

from orcheo_storage import _jsonfast
from orcheo_storage.errors import ValidationError

JsonScalar: TypeAlias = bool | int | float | Decimal | str | None
JsonValue: TypeAlias = JsonScalar | list["JsonValue"] | dict[str, "JsonValue"]
JsonObject: TypeAlias = dict[str, JsonValue]

MAX_DEPTH = 256


def check_text(value: str, field: str | None = None) -> str:
    """Reject strings that no backend can store faithfully.

    Raises:
        ValidationError: the string holds a NUL character or a lone surrogate.
    """
    if "\x00" in value:
        raise ValidationError("NUL characters are not allowed", field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError("lone surrogates are not allowed", field=field) from exc
    return value


def _number(value: float | Decimal, field: str) -> float | Decimal | int:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError("non-finite numbers (NaN, Infinity) are not allowed", field=field)
        return value
    if not value.is_finite():
        raise ValidationError("non-finite numbers (NaN, Infinity) are not allowed", field=field)
    return _canonical_decimal(value)


def _canonical_decimal(value: Decimal) -> int | float | Decimal:
    """Return the value a Decimal reads back as after an encode/decode round trip."""
    if value == value.to_integral_value() and value.as_tuple().exponent >= 0:  # type: ignore[operator]
        return int(value)
    as_float = float(value)
    if math.isfinite(as_float) and Decimal(repr(as_float)) == value:
        return as_float
    return value


class _NeedsCheckedPath(Exception):
    """Raised by the fast walk for anything it does not handle itself."""


_LEAVES = frozenset({int, bool, type(None)})


def _fast(value: Any, depth: int) -> JsonValue:
    # Exact built-in types only, no field paths built: the common case, several times faster.
    # Anything else (subclasses, Decimals, tuples, other mappings, every error) goes to
    # ``_checked``, which produces the same result or the error with its field path. The
    # members of a container are checked inline (no call per leaf: most values are leaves).
    kind = type(value)
    if kind is dict:
        if depth >= MAX_DEPTH:
            raise _NeedsCheckedPath
        out: dict[str, JsonValue] = {}
        for key, item in value.items():
            if type(key) is not str or "\x00" in key or not (key.isascii() or _encodes(key)):
                raise _NeedsCheckedPath
            t = type(item)
            if t in _LEAVES:
                out[key] = item
            elif t is str:
                if "\x00" in item or not (item.isascii() or _encodes(item)):
                    raise _NeedsCheckedPath
                out[key] = item
            else:
                out[key] = _fast(item, depth + 1)
        return out
    if kind is list:
        if depth >= MAX_DEPTH:
            raise _NeedsCheckedPath
        items: list[JsonValue] = []
        for item in value:
            t = type(item)
            if t in _LEAVES:
                items.append(item)
            elif t is str:
                if "\x00" in item or not (item.isascii() or _encodes(item)):
                    raise _NeedsCheckedPath
                items.append(item)
            else:
                items.append(_fast(item, depth + 1))
        return items
    if kind is str:
        if "\x00" in value or not (value.isascii() or _encodes(value)):
            raise _NeedsCheckedPath
        return value  # type: ignore[no-any-return]
    if kind in _LEAVES:
        return value  # type: ignore[no-any-return]
    if kind is float:
        if not math.isfinite(value):
            raise _NeedsCheckedPath
        return value  # type: ignore[no-any-return]
    raise _NeedsCheckedPath


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def normalise_json(value: Any, field: str = "$", _depth: int = 0) -> JsonValue:
    """Validate a JSON-shaped value and return it in canonical form (a fresh copy).

    Accepts ``None``, ``bool``, ``int``, ``float``, ``Decimal``, ``str``, lists,
    tuples and mappings with string keys.

    Raises:
        ValidationError: hostile strings, non-finite numbers, non-string keys,
            values that are not JSON, or nesting deeper than ``MAX_DEPTH``.
    """
    try:
        if _depth <= MAX_DEPTH:
            return _fast(value, _depth)
    except _NeedsCheckedPath:
        pass
    return _checked(value, field, _depth)


def _checked(value: Any, field: str, _depth: int) -> JsonValue:
    if _depth > MAX_DEPTH:
        raise ValidationError(f"JSON nesting deeper than {MAX_DEPTH} levels", field=field)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float | Decimal):
        return _number(value, field)
    if isinstance(value, str):
        return check_text(value, field)
    if isinstance(value, Mapping):
        out: dict[str, JsonValue] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(
                    f"JSON object keys must be strings, got {type(key).__name__}", field=field
                )
            check_text(key, f"{field}.<key>")
            out[key] = _checked(item, f"{field}.{key}", _depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [_checked(item, f"{field}[{i}]", _depth + 1) for i, item in enumerate(value)]
    raise ValidationError(f"value of type {type(value).__name__} is not JSON", field=field)


def normalise_object(value: Mapping[str, Any] | None, field: str) -> JsonObject:
    """Like :func:`normalise_json` but requires a JSON object (``None`` -> ``{}``)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError("must be a JSON object", field=field)
    result = normalise_json(value, field)
    assert isinstance(result, dict)
    return result


# --- encoding -------------------------------------------------------------------------------------


def _float_literal(value: float) -> str:
    text = format(Decimal(repr(value)), "f")
    return text if "." in text else text + ".0"


def _encode(value: JsonValue, parts: list[str], sort_keys: bool) -> None:
    if value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, int):
        parts.append(str(value))
    elif isinstance(value, float):
        parts.append(_float_literal(value))
    elif isinstance(value, Decimal):
        parts.append(format(value, "f") if value.as_tuple().exponent < 0 else str(value))  # type: ignore[operator]
    elif isinstance(value, str):
        parts.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, list):
        parts.append("[")
        for i, item in enumerate(value):
            if i:
                parts.append(",")
            _encode(item, parts, sort_keys)
        parts.append("]")
    else:
        parts.append("{")
        items = sorted(value.items()) if sort_keys else value.items()
        for i, (key, item) in enumerate(items):
            if i:
                parts.append(",")
            parts.append(json.dumps(key, ensure_ascii=False))
            parts.append(":")
            _encode(item, parts, sort_keys)
        parts.append("}")


def _no_default(value: Any) -> Any:
    raise _NeedsCheckedPath  # a Decimal (or anything else json cannot encode natively)


_C_ENCODERS = {
    sort: json.JSONEncoder(
        ensure_ascii=False,
        separators=(",", ":"),
        sort_keys=sort,
        allow_nan=False,
        default=_no_default,
    )
    for sort in (False, True)
}
# A float that repr() writes in exponent notation: the only place the C encoder's output
# differs from ours (we write floats positionally so JSONB cannot turn them into integers).
_EXPONENT = re.compile(r"[0-9]e[+-][0-9]")


def _dumps_exact(value: JsonValue, sort_keys: bool) -> str:
    try:
        text = _C_ENCODERS[sort_keys].encode(value)
    except (_NeedsCheckedPath, ValueError, TypeError):
        text = None
    if text is None or _EXPONENT.search(text):
        parts: list[str] = []
        _encode(value, parts, sort_keys)
        text = "".join(parts)
    return text


def dumps_bytes(value: JsonValue, *, sort_keys: bool = False) -> bytes:
    """:func:`dumps` as UTF-8 bytes (orjson when its output is exactly ours; see _jsonfast).

    Raises:
        UnicodeEncodeError: a string holds a lone surrogate.
    """
    out = _jsonfast.encode(value, sort_keys=sort_keys)
    if out is None or _jsonfast.has_exponent(out):
        return _dumps_exact(value, sort_keys).encode("utf-8")
    return out


def dumps(value: JsonValue, *, sort_keys: bool = False) -> str:
    """Encode a normalised JSON value compactly (no whitespace), exact for numbers."""
    out = _jsonfast.encode(value, sort_keys=sort_keys)
    if out is None or _jsonfast.has_exponent(out):
        return _dumps_exact(value, sort_keys)
    return out.decode("utf-8")


def _parse_float(literal: str) -> float | Decimal:
    try:
        exact = Decimal(literal)
    except InvalidOperation as exc:  # pragma: no cover - json only hands us valid literals
        raise ValidationError(f"invalid number {literal!r}") from exc
    if exact.as_tuple().exponent < 0:  # type: ignore[operator]
        return _canonical_decimal(exact)
    as_float = float(literal)
    # Beyond the float range (1e400) the exact value is kept, as normalise_json keeps it.
    return as_float if math.isfinite(as_float) else _canonical_decimal(exact)


def _reject_constant(name: str) -> None:
    raise ValidationError(f"non-finite number {name} in JSON")


def _loads_exact(text: str | bytes) -> JsonValue:
    value: JsonValue = json.loads(text, parse_float=_parse_float, parse_constant=_reject_constant)
    return value


def loads(text: str | bytes) -> JsonValue:
    """Decode JSON written by :func:`dumps` (or by a database) into canonical values.

    orjson decodes when every number literal reads the same there (see ``_jsonfast``);
    anything else, errors included, goes through the exact standard-library path.
    Fastest on compact text (as :func:`dumps` and exports write it).
    """
    try:
        data = text.encode("utf-8") if isinstance(text, str) else text
    except UnicodeEncodeError:
        return _loads_exact(text)
    value = _jsonfast.decode(data)
    if value is _jsonfast.NOT_EXACT:
        return _loads_exact(text)
    result: JsonValue = value
    return result


def canonical_dumps(value: JsonValue) -> str:
    """Encode with sorted keys: the form checksums are computed over."""
    return dumps(value, sort_keys=True)
