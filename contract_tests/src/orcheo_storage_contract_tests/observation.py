"""Comparing what a backend returns with what a model expects, exactly.

``==`` is too kind for a conformance check: ``2.0 == 2``, ``True == 1``, ``Decimal("0.1")``
next to ``0.1`` and two datetimes in different offsets compare equal. :func:`assert_same`
compares JSON-shaped data and models by type as well as value, so a float that comes back
as an integer, a Decimal that comes back as a float, a truncated microsecond or a non-UTC
offset all fail. (One allowance: ``-0.0`` may come back as ``0.0``, still a float, because
PostgreSQL's JSONB has no signed zero.)
:func:`scribble` mutates every container of a returned object, for the "copies out"
rule: re-reading afterwards must show the stored state unchanged.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel

SCRIBBLE = "\u2620scribbled"
"""What :func:`scribble` writes into returned objects (never a value a model expects)."""


def plain(value: Any) -> Any:
    """``value`` with models turned into dicts (field by field, keeping Python types)."""
    if isinstance(value, BaseModel):
        return {name: plain(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def differences(actual: Any, expected: Any, path: str = "$") -> list[str]:
    """Every place where ``actual`` differs from ``expected`` in type or value."""
    actual, expected = plain(actual), plain(expected)
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {actual!r}"]
        out: list[str] = []
        for key in sorted(set(actual) | set(expected), key=repr):
            if key not in actual:
                out.append(f"{path}.{key}: missing")
            elif key not in expected:
                out.append(f"{path}.{key}: unexpected {actual[key]!r}")
            else:
                out.extend(differences(actual[key], expected[key], f"{path}.{key}"))
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{path}: expected a list, got {actual!r}"]
        if len(actual) != len(expected):
            return [f"{path}: {len(actual)} elements, expected {len(expected)}: {actual!r}"]
        return [
            d
            for i, (a, e) in enumerate(zip(actual, expected, strict=True))
            for d in differences(a, e, f"{path}[{i}]")
        ]
    return [] if _same_scalar(actual, expected) else [f"{path}: {actual!r} != {expected!r}"]


def _same_scalar(actual: Any, expected: Any) -> bool:
    # An enum member is the same as its value (models hold members, the reference values).
    if isinstance(actual, enum.Enum):
        actual = actual.value
    if isinstance(expected, enum.Enum):
        expected = expected.value
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(expected, float):
        # A float stays a float (2.0 is not 2). The sign of zero is not compared:
        # PostgreSQL's JSONB (numeric) has no -0.0, so the contract allows 0.0 for it.
        return type(actual) is float and actual == expected
    if isinstance(expected, int):
        return type(actual) is int and actual == expected
    if isinstance(expected, Decimal):
        return type(actual) is Decimal and actual == expected
    if isinstance(expected, datetime):
        return (
            isinstance(actual, datetime)
            and actual.tzinfo is not None
            and actual.utcoffset() == timedelta(0)
            and actual == expected
        )
    if isinstance(expected, UUID):
        return isinstance(actual, UUID) and actual == expected
    return bool(type(actual) is type(expected) and actual == expected)


def assert_same(actual: Any, expected: Any, what: str) -> None:
    """Fail with every difference when ``actual`` is not exactly ``expected``."""
    found = differences(actual, expected)
    assert not found, f"{what} differs from the model:\n  " + "\n  ".join(found[:20])


def scribble(value: Any) -> None:
    """Mutate every mutable container reachable from ``value`` (and the fields of models
    that allow assignment), as a careless caller of the store would."""
    if isinstance(value, BaseModel):
        frozen = bool(type(value).model_config.get("frozen"))
        for name in type(value).model_fields:
            item = getattr(value, name)
            if not frozen and isinstance(item, str):
                # validate_assignment may refuse it: the containers still count
                with contextlib.suppress(Exception):
                    setattr(value, name, SCRIBBLE)
            scribble(item)
        return
    if isinstance(value, dict):
        for item in list(value.values()):
            scribble(item)
        value[SCRIBBLE] = SCRIBBLE
    elif isinstance(value, list):
        for item in list(value):
            scribble(item)
        value.append(SCRIBBLE)
