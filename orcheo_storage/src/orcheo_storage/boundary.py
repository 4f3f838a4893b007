"""The core boundary: every argument of the public store API is checked before a backend sees it.

Backends receive arguments straight from applications, and drivers differ in what they do
with hostile ones: SQLite raises ``UnicodeEncodeError`` for a lone surrogate and
``OverflowError`` for an integer of 2**63, PostgreSQL rejects NaN where SQLite stores it,
``timedelta`` overflows on an infinite lease. So :class:`~orcheo_storage.storage.Storage`
hands out its stores wrapped by :func:`guarded`, which checks each argument against the
protocol's annotation, once, in core, identically for every backend (third-party ones
included), and raises :class:`~orcheo_storage.errors.ValidationError` naming the argument:

* ``str``: no NUL character, no lone surrogate;
* ``int``: an integer (not a bool), within a signed 64-bit range;
* ``float``: a finite number of seconds (every float of the API is a duration), at most
  :data:`MAX_SECONDS` either way;
* ``bool``: a bool; ``datetime``: a datetime that converts to UTC;
* ``UUID``: a UUID, or a string spelling one (passed on as a UUID);
* an enum (``Status | str``): a member or a member's value;
* ``list[...]``: a list or tuple of checked items;
* a stored model given whole (``ServiceToken``): validated again (it may have been built
  with ``model_construct``); a request dataclass (``WorkflowChanges``): each field checked;
* ``Annotated[..., JSON]``: a JSON document (the core codec's rules: finite numbers, text
  keys, no NUL or surrogates), for documents that reach a query as they are (filters);
* anything else (models, payloads): left to the core models that every backend builds.

The wrapper is transparent otherwise: other attributes are the store's own.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import math
import sys
import types
import typing
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import cache
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from orcheo_storage.clock import ensure_utc
from orcheo_storage.errors import ValidationError
from orcheo_storage.jsoncodec import check_text, normalise_json
from orcheo_storage.models.chat import ChatContext
from orcheo_storage.models.common import StorageModel, build
from orcheo_storage.rules.chat import request_context

T = TypeVar("T")
Check = Callable[[Any, str], Any]
"""Returns the value to pass on (the same one, or a UUID for a UUID string); raises
``ValidationError`` naming the argument."""

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_SECONDS = 1e9
"""Bound of every duration argument (about 31 years): datetime arithmetic stays in range."""


class _JsonMarker:
    def __repr__(self) -> str:
        return "JSON"


JSON = _JsonMarker()
"""``Annotated[dict[str, Any], JSON]``: the argument is a JSON document checked at the boundary."""

JsonFilter = Annotated[dict[str, Any], JSON]
"""A JSON document used as a query filter (containment)."""


# --- checks ---------------------------------------------------------------------------------------


def _text(value: Any, name: str) -> Any:
    if not isinstance(value, str):
        raise ValidationError("must be a string", field=name)
    return check_text(value, name)


def _integer(value: Any, name: str) -> Any:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError("must be an integer", field=name)
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValidationError("is out of range (64-bit integers only)", field=name)
    return value


def _seconds(value: Any, name: str) -> Any:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValidationError("must be a number of seconds", field=name)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError("non-finite numbers (NaN, Infinity) are not allowed", field=name)
    if abs(value) > MAX_SECONDS:
        raise ValidationError(f"must be at most {MAX_SECONDS:.0e} seconds", field=name)
    return value


def _boolean(value: Any, name: str) -> Any:
    if not isinstance(value, bool):
        raise ValidationError("must be true or false", field=name)
    return value


def _uuid(value: Any, name: str) -> Any:
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(check_text(value, name))
        except ValueError:
            pass
    raise ValidationError("must be a UUID", field=name)


def _datetime(value: Any, name: str) -> Any:
    try:
        ensure_utc(value, name)
    except OverflowError:
        raise ValidationError("is out of range once converted to UTC", field=name) from None
    return value


def _json(value: Any, name: str) -> Any:
    normalise_json(value, name)
    return value


def _enum(kinds: tuple[type[enum.Enum], ...]) -> Check:
    values = {member.value for kind in kinds for member in kind}

    def check(value: Any, name: str) -> Any:
        if isinstance(value, kinds):
            return value
        if isinstance(value, str) and value in values:
            return value
        allowed = ", ".join(sorted(str(v) for v in values))
        raise ValidationError(f"must be one of: {allowed}", field=name)

    return check


def _optional(check: Check) -> Check:
    def optional(value: Any, name: str) -> Any:
        return None if value is None else check(value, name)

    return optional


def _list_of(check: Check) -> Check:
    def each(value: Any, name: str) -> Any:
        if not isinstance(value, list | tuple):
            raise ValidationError("must be a list", field=name)
        for index, item in enumerate(value):
            check(item, f"{name}[{index}]")
        return value

    return each


_SIMPLE: dict[Any, Check] = {
    str: _text,
    int: _integer,
    float: _seconds,
    bool: _boolean,
    uuid.UUID: _uuid,
    datetime: _datetime,
}


def check_for(annotation: Any) -> Check | None:
    """The check of an annotation, or ``None`` when the boundary leaves it to the models."""
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *meta = get_args(annotation)
        return _json if any(m is JSON for m in meta) else check_for(base)
    if origin is Union or origin is types.UnionType:
        members = [a for a in get_args(annotation) if a is not type(None)]
        nullable = len(members) < len(get_args(annotation))
        enums = tuple(m for m in members if isinstance(m, type) and issubclass(m, enum.Enum))
        rest = [m for m in members if m not in enums]
        if enums and all(m is str for m in rest):
            check: Check | None = _enum(enums)
        elif len(members) == 1:
            check = check_for(members[0])
        else:
            return None
        return None if check is None else (_optional(check) if nullable else check)
    if origin is list:
        (item,) = get_args(annotation) or (Any,)
        inner = check_for(item)
        return None if inner is None else _list_of(inner)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return _enum((annotation,))
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return _dataclass(annotation)
    if isinstance(annotation, type) and issubclass(annotation, StorageModel):
        return _model(annotation)
    return _SIMPLE.get(annotation)


def _chat_context(value: Any, name: str) -> Any:
    if isinstance(value, ChatContext):
        return build(ChatContext, **value.model_dump())
    return request_context(value)


def _model(kind: type[StorageModel]) -> Check:
    """A stored model given whole (a token, an audit event, a subscription spec): validated
    again, since a caller can build one without validation (``model_construct``,
    ``model_copy(update=...)``); a mapping is validated into the model. A ChatKit request
    context is read as the stores read it (:func:`orcheo_storage.rules.chat.request_context`:
    a mapping may carry keys that are not the store's business)."""
    if kind is ChatContext:
        return _chat_context

    def model(value: Any, name: str) -> Any:
        if isinstance(value, kind):
            data = value.model_dump()
        elif isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
            data = dict(value)
        else:
            raise ValidationError(f"must be a {kind.__name__}", field=name)
        try:
            return build(kind, **data)
        except (TypeError, AttributeError):  # fields missing from a model_construct
            raise ValidationError(f"is not a valid {kind.__name__}", field=name) from None

    return model


def _dataclass(kind: type) -> Check:
    """A request object (e.g. ``WorkflowChanges``): an instance whose fields pass their checks."""
    hints = typing.get_type_hints(kind)
    fields: list[tuple[str, Check]] = []
    for item in dataclasses.fields(kind):
        field_check = check_for(hints.get(item.name, Any))
        if field_check is not None:
            fields.append((item.name, field_check))

    def instance(value: Any, name: str) -> Any:
        if not isinstance(value, kind):
            raise ValidationError(f"must be a {kind.__name__}", field=name)
        for field, field_check in fields:
            field_check(getattr(value, field), f"{name}.{field}")
        return value

    return instance


# --- plans: the checks of one method -----------------------------------------------------------


class _Plan:
    """The checks of one method's parameters, by position and by keyword."""

    def __init__(self, function: Callable[..., Any]) -> None:
        hints = resolved_hints(function)
        parameters = [
            p for p in inspect.signature(function).parameters.values() if p.name != "self"
        ]
        self.by_name: dict[str, Check] = {}
        self.by_position: list[tuple[str, Check | None]] = []
        for parameter in parameters:
            check = check_for(hints.get(parameter.name, Any))
            if check is not None:
                self.by_name[parameter.name] = check
            if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
                self.by_position.append((parameter.name, check))

    def apply(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if args:
            checked = list(args)
            for index, (name, check) in enumerate(self.by_position[: len(args)]):
                if check is not None:
                    checked[index] = check(args[index], name)
            args = tuple(checked)
        for name, value in kwargs.items():
            check = self.by_name.get(name)
            if check is not None:
                kwargs[name] = check(value, name)
        return args, kwargs


def resolved_hints(function: Callable[..., Any]) -> dict[str, Any]:
    """Annotations resolved one by one: those naming optional packages (imported for type
    checking only) are left unchecked instead of failing the whole method."""
    namespace = vars(sys.modules[function.__module__])
    resolved: dict[str, Any] = {}
    for name, annotation in getattr(function, "__annotations__", {}).items():
        if isinstance(annotation, str):
            try:
                annotation = eval(annotation, namespace, {"typing": typing})
            except Exception:  # a name only imported under TYPE_CHECKING
                annotation = Any
        resolved[name] = annotation
    return resolved


# --- the wrapper ------------------------------------------------------------------------------------


class Guarded:
    """Base of the wrappers :func:`guarded` builds; other attributes are the target's."""

    def __init__(self, target: Any) -> None:
        object.__setattr__(self, "_guarded_target", target)

    def __getattr__(self, name: str) -> Any:
        return getattr(object.__getattribute__(self, "_guarded_target"), name)

    def __repr__(self) -> str:
        return repr(object.__getattribute__(self, "_guarded_target"))


def _method(name: str, plan: _Plan) -> Callable[..., Any]:
    async def method(self: Guarded, *args: Any, **kwargs: Any) -> Any:
        args, kwargs = plan.apply(args, kwargs)
        target = object.__getattribute__(self, "_guarded_target")
        return await getattr(target, name)(*args, **kwargs)

    method.__name__ = method.__qualname__ = name
    return method


@cache
def _wrapper_class(contract: type, bases: tuple[type, ...]) -> type:
    methods: dict[str, Any] = {}
    for name, function in inspect.getmembers(contract, inspect.iscoroutinefunction):
        if not name.startswith("_"):
            methods[name] = _method(name, _Plan(function))
    return type(f"Guarded{contract.__name__}", (Guarded, *bases), methods)


def guarded(target: T, contract: type, *, bases: tuple[type, ...] = ()) -> T:
    """``target`` with the arguments of every public async method of ``contract`` checked.

    Args:
        target: a store (or the vault).
        contract: the protocol or class whose annotations define the checks.
        bases: extra base classes of the wrapper (e.g. ``chatkit.store.Store``, so the
            wrapper is still one).
    """
    wrapper: T = _wrapper_class(contract, bases)(target)
    return wrapper
