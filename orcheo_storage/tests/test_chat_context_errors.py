"""The ChatKit store meets the real ``openai-chatkit``: its not-found errors are ChatKit's
``NotFoundError`` too, and a plain mapping is accepted as the request context.

The server-level proof (a real ``ChatKitServer`` on every backend) is the contract suite's
``test_chatkit_server``; these are the core's rules on their own.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
import uuid
from typing import Any

import pytest

# Imported first: it loads chatkit with its import-time DeprecationWarning silenced.
import orcheo_storage.chatkit_types  # noqa: F401  # isort: skip
import chatkit.store  # isort: skip
from chatkit.types import ThreadsListReq  # isort: skip

from orcheo_storage.models.chat import ChatContext
from orcheo_storage.rules.chat import accepts_mapping_context, request_context

from orcheo_storage import errors

CHAT_ERRORS = (errors.ThreadNotFoundError, errors.ItemNotFoundError, errors.AttachmentNotFoundError)


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("error", CHAT_ERRORS)
def test_chat_not_found_errors_are_both_ours_and_chatkits(error: type[Exception]) -> None:
    assert issubclass(error, errors.NotFoundError)
    assert issubclass(error, errors.StorageError)
    assert issubclass(error, chatkit.store.NotFoundError)
    assert error.__module__ == "orcheo_storage.errors"
    assert error.__name__ in errors.__all__
    assert error.__name__ in dir(errors)
    with pytest.raises(chatkit.store.NotFoundError) as info:
        raise error("id-1")
    assert isinstance(info.value, errors.NotFoundError)
    assert info.value.key == "id-1"  # type: ignore[attr-defined]
    copy = pickle.loads(pickle.dumps(info.value))
    assert type(copy) is error
    assert (copy.key, str(copy)) == ("id-1", str(info.value))


def test_other_not_found_errors_are_not_chatkits() -> None:
    assert not issubclass(errors.WorkflowNotFoundError, chatkit.store.NotFoundError)
    assert not issubclass(errors.NotFoundError, chatkit.store.NotFoundError)
    custom = pickle.loads(pickle.dumps(errors.WorkflowNotFoundError("w", "workflow ref is empty")))
    assert (custom.key, str(custom)) == ("w", "workflow ref is empty")


def test_unknown_error_names_still_fail() -> None:
    with pytest.raises(AttributeError, match="NoSuchError"):
        errors.NoSuchError  # noqa: B018


def test_importing_the_core_does_not_import_chatkit() -> None:
    done = _python(
        """
        import sys
        import orcheo_storage, orcheo_storage.errors, orcheo_storage.storage
        assert not [m for m in sys.modules if m.split(".")[0] == "chatkit"], "chatkit imported"
        from orcheo_storage.errors import ThreadNotFoundError
        import chatkit.store
        assert issubclass(ThreadNotFoundError, chatkit.store.NotFoundError)
        print("ok")
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_without_chatkit_installed_they_are_plain_storage_errors() -> None:
    done = _python(
        """
        import sys
        sys.modules["chatkit"] = None  # as if openai-chatkit were not installed
        from orcheo_storage.errors import ItemNotFoundError, NotFoundError
        assert issubclass(ItemNotFoundError, NotFoundError)
        assert [c.__name__ for c in ItemNotFoundError.__mro__][:4] == [
            "ItemNotFoundError", "NotFoundError", "StorageError", "ChatKitNotFoundError"
        ]
        print(ItemNotFoundError("i-1"))
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "chat item not found: i-1"


# --- the request context --------------------------------------------------------------------


def test_a_chat_context_is_used_as_it_is() -> None:
    context = ChatContext(workflow_id="wf-1", metadata={"a": 1})
    assert request_context(context) is context


def test_a_mapping_with_the_same_keys() -> None:
    assert request_context({}) == ChatContext()
    assert request_context({"workflow_id": "wf-1", "metadata": {"a": [1, "ü"]}}) == ChatContext(
        workflow_id="wf-1", metadata={"a": [1, "ü"]}
    )
    workflow = uuid.uuid4()
    assert request_context({"workflow_id": workflow}).workflow_id == str(workflow)


def test_the_mapping_orcheo_passes_today() -> None:
    parsed = ThreadsListReq(params={"limit": 5}, metadata={"source": "widget", "n": 2})
    orcheo = {
        "chatkit_request": parsed,
        "workflow_id": "5f0c6f0e-0000-4000-8000-000000000001",
        "actor": "chatkit",
        "auth_mode": "publish",
        "subject": "user-7",
    }
    assert request_context(orcheo) == ChatContext(
        workflow_id="5f0c6f0e-0000-4000-8000-000000000001", metadata={"source": "widget", "n": 2}
    )
    # an explicit metadata key wins over the request's
    assert request_context({**orcheo, "metadata": {"m": 1}}).metadata == {"m": 1}
    assert request_context({"chatkit_request": None}).metadata == {}


@pytest.mark.parametrize(
    ("context", "fragment"),
    [
        (None, "context: must be a ChatContext or a mapping, not NoneType"),
        ("wf-1", "context: must be a ChatContext or a mapping, not str"),
        ({"workflow_id": 7}, "workflow_id"),
        ({"workflow_id": "a\x00b"}, "NUL"),
        ({"metadata": ["not", "an", "object"]}, "metadata"),
        ({"metadata": {"x": float("nan")}}, "non-finite"),
    ],
)
def test_anything_else_is_a_validation_error(context: Any, fragment: str) -> None:
    with pytest.raises(errors.ValidationError) as info:
        request_context(context)
    assert fragment in str(info.value)


@accepts_mapping_context
class _Recorder:
    async def load_thread(self, thread_id: str, context: ChatContext) -> Any:
        return thread_id, context

    async def load_threads(
        self, limit: int, after: str | None, order: str, context: ChatContext
    ) -> Any:
        return limit, context

    async def search_items(
        self, thread_id: str, query: str, context: ChatContext, *, limit: int = 20
    ) -> Any:
        return query, context, limit

    async def _private(self, context: Any) -> Any:
        return context

    def generate_thread_id(self, context: Any) -> str:
        return "thr-fixed"


async def test_the_decorator_converts_positional_and_keyword_contexts() -> None:
    store: Any = _Recorder()
    expected = ChatContext(workflow_id="wf-9")
    assert await store.load_thread("t", {"workflow_id": "wf-9"}) == ("t", expected)
    assert await store.load_thread("t", context={"workflow_id": "wf-9"}) == ("t", expected)
    assert await store.load_thread(thread_id="t", context={"workflow_id": "wf-9"}) == (
        "t",
        expected,
    )
    assert await store.load_threads(3, None, "asc", {"workflow_id": "wf-9"}) == (3, expected)
    assert await store.search_items("t", "q", {"workflow_id": "wf-9"}, limit=4) == (
        "q",
        expected,
        4,
    )
    with pytest.raises(errors.ValidationError):
        await store.load_thread("t", None)
    # private and synchronous methods are left alone
    assert await store._private({"workflow_id": "wf-9"}) == {"workflow_id": "wf-9"}
    assert store.generate_thread_id({"x": 1}) == "thr-fixed"
    assert _Recorder.load_thread.__name__ == "load_thread"
