"""Shared helpers of the contract modules: assertions, fixtures-in-code, paging."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest
from orcheo_storage.models.common import Page
from orcheo_storage.models.workflows import Workflow, WorkflowVersion
from orcheo_storage.storage import Storage

T = TypeVar("T")

GRAPH: dict[str, Any] = {
    "nodes": [{"name": "start", "type": "input"}, {"name": "llm", "type": "agent"}],
    "edges": [["start", "llm"]],
}


def assert_utc(value: datetime | None) -> datetime:
    """Assert ``value`` is an aware datetime in UTC and return it."""
    assert value is not None
    assert value.tzinfo is not None, f"naive datetime returned: {value!r}"
    assert value.utcoffset() == timedelta(0), f"datetime not in UTC: {value!r}"
    return value


@contextmanager
def raises(error: type[BaseException], message: str) -> Iterator[pytest.ExceptionInfo[Any]]:
    """Expect ``error`` (or a subclass) whose ``str()`` is exactly ``message``."""
    with pytest.raises(error, match=f"^{re.escape(message)}$") as info:
        yield info


async def make_workflow(storage: Storage, name: str = "Flow", **kwargs: Any) -> Workflow:
    """A fresh workflow created by ``tester``."""
    return await storage.workflows.create_workflow(name=name, actor="tester", **kwargs)


async def make_version(
    storage: Storage, workflow: Workflow | None = None, **kwargs: Any
) -> WorkflowVersion:
    """A version (of a fresh workflow unless one is given)."""
    if workflow is None:
        workflow = await make_workflow(storage)
    kwargs.setdefault("graph", GRAPH)
    kwargs.setdefault("created_by", "tester")
    return await storage.workflows.create_version(workflow.id, **kwargs)


async def all_pages(
    fetch: Callable[[str | None], Awaitable[Page[T]]], *, max_pages: int = 10_000
) -> list[list[T]]:
    """Follow ``next_cursor`` from the first page to the last; returns every page."""
    pages: list[list[T]] = []
    cursor: str | None = None
    for _ in range(max_pages):
        page = await fetch(cursor)
        pages.append(list(page.items))
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor
    raise AssertionError(f"pagination did not end after {max_pages} pages")


def nested(depth: int) -> dict[str, Any]:
    """A JSON object nested ``depth`` levels deep (well inside the core's limit)."""
    value: Any = {"leaf": [1, "x", None]}
    for level in range(depth):
        value = {f"l{level}": value}
    return dict(value)


def execution_id() -> str:
    """A fresh run-history execution id."""
    return f"exec-{uuid.uuid4().hex}"
