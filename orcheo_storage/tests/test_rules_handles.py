"""Handle, slug and reference rules."""

from __future__ import annotations

import re
import uuid

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from orcheo_storage.errors import ValidationError, WorkflowNotFoundError
from orcheo_storage.rules.handles import (
    HANDLE_MAX_LENGTH,
    make_slug,
    normalise_handle,
    normalise_ref,
    ref_as_uuid,
)

text = st.text(
    alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"]), max_size=40
)
handle_words = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6),
    min_size=1,
    max_size=5,
)


@given(text)
def test_slug_is_idempotent_and_well_formed(value: str) -> None:
    slug = make_slug(value)
    assert make_slug(slug) == slug
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", slug)


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("My Workflow", "my-workflow"),
        ("  --Hello,   World!!  ", "hello-world"),
        ("Zażółć gęślą", "za-g-l"),
        ("!!!", "workflow"),
        ("", "workflow"),
        ("already-a-slug", "already-a-slug"),
    ],
)
def test_slug_examples(name: str, slug: str) -> None:
    assert make_slug(name) == slug


@given(handle_words, st.sampled_from(["", " ", "\t"]), st.booleans())
def test_valid_handles_normalise_to_lowercase_kebab(
    words: list[str], pad: str, upper: bool
) -> None:
    handle = "-".join(words)
    assume(len(handle) <= HANDLE_MAX_LENGTH)
    given_handle = pad + (handle.upper() if upper else handle) + pad
    normalised = normalise_handle(given_handle)
    assert normalised == handle.lower()
    assert normalise_handle(normalised) == normalised  # idempotent


@given(text)
def test_any_accepted_handle_is_canonical(value: str) -> None:
    try:
        handle = normalise_handle(value)
    except ValidationError as exc:
        error: ValidationError | None = exc
        handle = None
    else:
        error = None
    if error is not None:
        assert error.field == "handle"
        return
    assert handle is not None
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", handle)
    assert 1 <= len(handle) <= HANDLE_MAX_LENGTH
    assert ref_as_uuid(handle) is None


@pytest.mark.parametrize(
    "bad",
    ["", "   ", "a--b", "-a", "a-", "a_b", "a b", "a" * 65, "héllo", "a\x00b", str(uuid.uuid4())],
)
def test_invalid_handles_are_rejected(bad: str) -> None:
    with pytest.raises(ValidationError) as info:
        normalise_handle(bad)
    assert info.value.field == "handle"


def test_uuid_shaped_handle_message() -> None:
    with pytest.raises(ValidationError, match="UUID"):
        normalise_handle("12345678123456781234567812345678")  # hex form parses as a UUID


def test_no_handle_is_none() -> None:
    assert normalise_handle(None) is None
    assert normalise_handle("a" * 64) == "a" * 64


def test_ref_normalisation() -> None:
    assert normalise_ref("  My-Handle ") == "my-handle"
    with pytest.raises(WorkflowNotFoundError, match="workflow ref is empty") as info:
        normalise_ref("   ")
    assert info.value.key == "   "


def test_ref_as_uuid() -> None:
    value = uuid.uuid4()
    assert ref_as_uuid(str(value)) == value
    assert ref_as_uuid(str(value).upper()) == value
    assert ref_as_uuid("not-a-uuid") is None
