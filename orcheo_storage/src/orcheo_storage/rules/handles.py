"""Workflow handles, slugs and reference resolution."""

from __future__ import annotations

import re
import uuid

from orcheo_storage.errors import ValidationError, WorkflowNotFoundError
from orcheo_storage.jsoncodec import check_text

HANDLE_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
HANDLE_MAX_LENGTH = 64
_SLUG_RUNS = re.compile(r"[^a-z0-9]+")


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def normalise_handle(handle: str | None) -> str | None:
    """Return the canonical handle (stripped, lowercased), or ``None`` for no handle.

    Raises:
        ValidationError: empty after stripping, longer than 64, not lowercase
            kebab-case, or parses as a UUID.
    """
    if handle is None:
        return None
    value = check_text(handle, "handle").strip().lower()
    if not value:
        raise ValidationError("handle must not be empty", field="handle")
    if len(value) > HANDLE_MAX_LENGTH:
        raise ValidationError(
            f"handle must be at most {HANDLE_MAX_LENGTH} characters", field="handle"
        )
    if not HANDLE_PATTERN.fullmatch(value):
        raise ValidationError(
            "handle must be lowercase kebab-case (letters, digits and single hyphens)",
            field="handle",
        )
    if _is_uuid(value):
        raise ValidationError("handle must not look like a UUID", field="handle")
    return value


def make_slug(text: str) -> str:
    """Lowercase ``text``, turn runs of anything but ``[a-z0-9]`` into ``-``, trim hyphens.

    Idempotent: ``make_slug(make_slug(x)) == make_slug(x)``. Returns ``"workflow"``
    when nothing usable is left.
    """
    slug = _SLUG_RUNS.sub("-", check_text(text, "slug").lower()).strip("-")
    return slug or "workflow"


def normalise_ref(ref: str) -> str:
    """Strip and lowercase a workflow reference.

    Raises:
        WorkflowNotFoundError: the reference is empty.
    """
    value = check_text(ref, "ref").strip().lower()
    if not value:
        raise WorkflowNotFoundError(ref, "workflow ref is empty")
    return value


def ref_as_uuid(ref: str) -> uuid.UUID | None:
    """The reference as a UUID when it parses as one."""
    try:
        return uuid.UUID(ref)
    except ValueError:
        return None
