"""Rebuilding models from rows a backend wrote, without re-running validation.

Every stored value was validated by the core models on the way in, so a read only has
to restore the Python types (UUIDs, enums, datetimes, secrets, nested models) from their
column or JSON form. Doing that with ``model_construct`` from a per-model plan costs a
fraction of ``model_validate`` (measured ~5x on a workflow), which matters on the hot read
paths (token lookup, get workflow). Each call builds fresh objects, so callers still get
copies. Used by the SQLite and PostgreSQL row codecs; only for rows the backend itself
wrote through the core models (or imported through the validated migration path).

A row that carries every field (the usual case) skips ``model_construct`` too: its values
become the model's ``__dict__`` directly (:func:`assemble`), as ``model_construct`` would
store them, without its per-field default and alias lookups.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Any, TypeVar
from uuid import UUID

from pydantic import BaseModel, SecretStr

M = TypeVar("M", bound=BaseModel)
Convert = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


def _optional(inner: Convert) -> Convert:
    return lambda value: None if value is None else inner(value)


def _datetime(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


def _secret(value: Any) -> SecretStr:
    return value if isinstance(value, SecretStr) else SecretStr(value)


def converter(annotation: Any) -> Convert:
    """A function turning the stored JSON/column form of ``annotation`` into its type."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return converter(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            inner = converter(args[0])
            return _identity if inner is _identity else _optional(inner)
        return _identity
    if origin is list:
        (item,) = typing.get_args(annotation) or (Any,)
        inner = converter(item)
        if inner is _identity:
            return _identity
        return lambda value: [inner(v) for v in value]
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return lambda value: construct(annotation, value)
        if issubclass(annotation, enum.Enum):
            return annotation
        if issubclass(annotation, datetime):
            return _datetime
        if issubclass(annotation, UUID):
            return _uuid
        if issubclass(annotation, SecretStr):
            return _secret
    return _identity


@cache
def _plan(model: type[BaseModel]) -> tuple[tuple[str, Convert | None], ...]:
    """Each field with its converter, ``None`` where the stored form is the value itself."""
    plan = ((name, converter(field.annotation)) for name, field in model.model_fields.items())
    return tuple((name, None if convert is _identity else convert) for name, convert in plan)


@cache
def _plain_fields(model: type[BaseModel]) -> frozenset[str]:
    """The field names of ``model`` if a complete set of field values is all
    ``model_construct`` would store (no aliases to resolve, no extra fields kept, no
    post-init hook, not a root model); else an empty set."""
    fields = model.model_fields
    if (
        model.__pydantic_root_model__
        or model.__pydantic_post_init__
        or model.model_config.get("extra") == "allow"
        or any(f.alias or f.validation_alias for f in fields.values())
    ):
        return frozenset()
    return frozenset(fields)


_set = object.__setattr__


def construct(model: type[M], data: dict[str, Any]) -> M:
    """``model`` from trusted ``data`` (missing fields take their defaults)."""
    values = {
        name: data[name] if convert is None else convert(data[name])
        for name, convert in _plan(model)
        if name in data
    }
    return assemble(model, values)


def assemble(model: type[M], values: dict[str, Any]) -> M:
    """``model`` from ``values`` already of the fields' types, as ``model_construct`` builds
    it (missing fields take their defaults), faster when every field is given.

    ``values`` becomes the model's ``__dict__``: pass a dict nobody else holds.
    """
    if not values or values.keys() != _plain_fields(model):
        return model.model_construct(**values)
    # Every field given: what model_construct would do, without its per-field default and
    # alias lookups (a row read is the hot path of every store).
    obj = model.__new__(model)
    _set(obj, "__dict__", values)
    _set(obj, "__pydantic_fields_set__", set(values))
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj
