"""Building blocks shared by every model: strict base class, validated text, JSON and time."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

import pydantic
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, SecretStr

from orcheo_storage.clock import ensure_utc
from orcheo_storage.errors import ValidationError
from orcheo_storage.jsoncodec import check_text, normalise_json, normalise_object

INT64_MAX = 2**63 - 1
"""The largest integer a native integer column of every backend holds (SQLite's INTEGER)."""


class StorageModel(BaseModel):
    """Base of every stored model: immutable, no unknown fields, finite numbers only (one
    rule for NaN and infinities, whatever the backend could store)."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_default=True, allow_inf_nan=False
    )


def _text(value: str) -> str:
    return check_text(value)


def _secret_text(value: SecretStr) -> SecretStr:
    check_text(value.get_secret_value())
    return value


def _json_object(value: Any) -> dict[str, Any]:
    return normalise_object(value, "$")


def _json_value(value: Any) -> Any:
    return normalise_json(value)


def _utc(value: datetime) -> datetime:
    return ensure_utc(value)


Text = Annotated[str, AfterValidator(_text)]
"""A string with no NUL characters and no lone surrogates."""

SecretText = Annotated[SecretStr, AfterValidator(_secret_text)]
"""A secret string held as :class:`~pydantic.SecretStr`, with the rules of :data:`Text`."""

JsonDict = Annotated[dict[str, Any], BeforeValidator(_json_object)]
"""A validated, canonical JSON object (see :mod:`orcheo_storage.jsoncodec`)."""

Json = Annotated[Any, BeforeValidator(_json_value)]
"""Any validated, canonical JSON value."""

UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
"""An aware UTC datetime; naive input is read as UTC."""


class AuditEvent(StorageModel):
    """One entry of an append-only audit log."""

    actor: Text
    action: Text
    at: UtcDatetime
    metadata: JsonDict = Field(default_factory=dict)


M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """A page of a keyset-paginated list; pass ``next_cursor`` back to get the next page."""

    model_config = ConfigDict(frozen=True)

    items: list[T]
    next_cursor: str | None = None


def build(model: type[M], /, **data: Any) -> M:
    """Construct ``model`` from ``data``, raising the storage :class:`ValidationError`.

    Raises:
        ValidationError: the data violates the model; the message names the field.
    """
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise _translate(exc) from None


def _translate(exc: pydantic.ValidationError) -> ValidationError:
    first = exc.errors(include_url=False, include_input=False)[0]
    field = ".".join(str(part) for part in first["loc"]) or None
    message = first["msg"]
    ctx = first.get("ctx") or {}
    cause = ctx.get("error")
    if isinstance(cause, ValidationError):
        message = str(cause).split(": ", 1)[-1] if cause.field else str(cause)
        # A JSON path from the codec ("$.a[0]") continues the model field's path.
        if cause.field and cause.field.startswith("$") and field:
            field = field + cause.field[1:]
    elif message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    return ValidationError(message, field=field)
