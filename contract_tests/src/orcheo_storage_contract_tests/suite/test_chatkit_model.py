"""Contract: the ChatKit store, by Hypothesis: properties and a state machine against a model.

The example-based tests of the same subsystem are in ``test_chatkit.py``.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

import pytest
from chatkit.types import (
    ThreadItem,
    UserMessageItem,
)
from hypothesis import given, note
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule
from orcheo_storage.errors import (
    ValidationError,
)
from orcheo_storage.jsoncodec import normalise_json
from orcheo_storage.models.chat import ChatContext

from orcheo_storage_contract_tests._runner import (
    AsyncStateMachine,
    ProvisionStorage,
    run,
    run_machine,
)
from orcheo_storage_contract_tests.chat_objects import (
    CHAT_CONTEXT as CTX,
)
from orcheo_storage_contract_tests.chat_objects import (
    CHAT_T0,
    all_items,
    all_threads,
    assistant_message,
    chat_thread,
    stored_ordinals,
    user_message,
)
from orcheo_storage_contract_tests.strategies import (
    hostile_json,
    hostile_text,
    json_objects,
    safe_text,
)

# --- properties -----------------------------------------------------------------------------------


@given(
    metadata=json_objects,
    texts=st.lists(safe_text.filter(lambda s: s.strip() != ""), min_size=1, max_size=5),
    title=st.none() | safe_text,
)
def test_property_round_trip(
    provision_storage: ProvisionStorage,
    metadata: dict[str, Any],
    texts: list[str],
    title: str | None,
) -> None:
    async def body() -> None:
        async with provision_storage() as storage:
            chat = storage.chatkit
            await chat.save_thread(chat_thread("p-thr", metadata=metadata, title=title), CTX)
            loaded = await chat.load_thread("p-thr", CTX)
            assert loaded.metadata == normalise_json(metadata)
            for n, text in enumerate(texts):
                await chat.add_thread_item("p-thr", user_message(f"p-{n}", "p-thr", text), CTX)
            page = await chat.load_thread_items("p-thr", None, 100, "asc", CTX)
            assert [i.content[0].text for i in page.data if isinstance(i, UserMessageItem)] == texts
            expected_title = title or " ".join([texts[0]]).strip()[:20] or None
            assert (await chat.load_thread("p-thr", CTX)).title == expected_title

    run(body())


@given(bad=hostile_json(), bad_text=hostile_text())
def test_property_hostile_input_rejected(
    provision_storage: ProvisionStorage, bad: dict[str, Any], bad_text: str
) -> None:
    async def body() -> None:
        async with provision_storage() as storage:
            chat = storage.chatkit
            with pytest.raises(ValidationError):
                await chat.save_thread(chat_thread("h-thr", metadata=bad), CTX)
            with pytest.raises(ValidationError):
                await chat.save_thread(chat_thread("h-thr", title=bad_text), CTX)
            assert (await chat.load_threads(10, None, "asc", CTX)).data == []
            await chat.save_thread(chat_thread("h-thr"), CTX)
            with pytest.raises(ValidationError):
                await chat.add_thread_item("h-thr", user_message("h-1", "h-thr", bad_text), CTX)
            assert (await chat.load_thread_items("h-thr", None, 10, "asc", CTX)).data == []

    run(body())


# --- state machine --------------------------------------------------------------------------------


@dataclasses.dataclass
class _ThreadModel:
    workflow: str
    created_at: datetime
    items: list[str] = dataclasses.field(default_factory=list)


class ChatMachine(AsyncStateMachine):
    """Threads and items against a model: order, scoping, pagination exactly once."""

    def __init__(self, provision: ProvisionStorage) -> None:
        super().__init__(provision)
        self.threads: dict[str, _ThreadModel] = {}
        self.counter = 0

    def _next(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.counter:03d}"

    @rule(workflow=st.sampled_from(["wf-a", "wf-b"]), offset=st.integers(min_value=0, max_value=3))
    def create_thread(self, workflow: str, offset: int) -> None:
        tid = self._next("t")
        created = CHAT_T0 + timedelta(microseconds=offset)
        self.call(
            self.storage.chatkit.save_thread(
                chat_thread(tid, created_at=created), ChatContext(workflow_id=workflow)
            )
        )
        self.threads[tid] = _ThreadModel(workflow, created)

    @precondition(lambda self: bool(self.threads))
    @rule(data=st.data(), assistant=st.booleans())
    def add_item(self, data: st.DataObject, assistant: bool) -> None:
        tid = data.draw(st.sampled_from(list(self.threads)))
        item_id = self._next("i")
        item: ThreadItem = (
            assistant_message(item_id, tid, "a") if assistant else user_message(item_id, tid, "u")
        )
        self.call(
            self.storage.chatkit.add_thread_item(
                tid, item, ChatContext(workflow_id=self.threads[tid].workflow)
            )
        )
        self.threads[tid].items.append(item_id)

    @precondition(lambda self: any(t.items for t in self.threads.values()))
    @rule(data=st.data())
    def resave_item(self, data: st.DataObject) -> None:
        tid = data.draw(st.sampled_from([t for t, m in self.threads.items() if m.items]))
        item_id = data.draw(st.sampled_from(self.threads[tid].items))
        self.call(
            self.storage.chatkit.save_item(tid, assistant_message(item_id, tid, "resaved"), CTX)
        )

    @precondition(lambda self: any(t.items for t in self.threads.values()))
    @rule(data=st.data())
    def delete_item(self, data: st.DataObject) -> None:
        tid = data.draw(st.sampled_from([t for t, m in self.threads.items() if m.items]))
        item_id = data.draw(st.sampled_from(self.threads[tid].items))
        self.call(self.storage.chatkit.delete_thread_item(tid, item_id, CTX))
        self.threads[tid].items.remove(item_id)

    @precondition(lambda self: bool(self.threads))
    @rule(data=st.data())
    def delete_thread(self, data: st.DataObject) -> None:
        tid = data.draw(st.sampled_from(list(self.threads)))
        self.call(self.storage.chatkit.delete_thread(tid, CTX))
        del self.threads[tid]

    @precondition(lambda self: bool(self.threads))
    @rule(
        data=st.data(),
        limit=st.integers(min_value=1, max_value=4),
        order=st.sampled_from(["asc", "desc"]),
    )
    def page_items(self, data: st.DataObject, limit: int, order: str) -> None:
        tid = data.draw(st.sampled_from(list(self.threads)))
        seen = self.call(all_items(self.storage, tid, order, limit))
        expected = self.threads[tid].items
        assert seen == (expected if order == "asc" else list(reversed(expected)))

    @rule(
        limit=st.integers(min_value=1, max_value=4),
        order=st.sampled_from(["asc", "desc"]),
        scope=st.sampled_from([None, "wf-a", "wf-b"]),
    )
    def page_threads(self, limit: int, order: str, scope: str | None) -> None:
        seen = self.call(all_threads(self.storage, order, limit, ChatContext(workflow_id=scope)))
        expected = sorted(
            (t for t, m in self.threads.items() if scope is None or m.workflow == scope),
            key=lambda t: (self.threads[t].created_at, t),
            reverse=order == "desc",
        )
        note(f"threads {order} limit {limit} scope {scope}: {seen}")
        assert seen == expected

    @invariant()
    def ordinals_gapless_and_unique(self) -> None:
        for tid, model in self.threads.items():
            ordinals = self.call(stored_ordinals(self.storage, tid))
            assert len(ordinals) == len(set(ordinals)) == len(model.items)
            assert ordinals == sorted(ordinals)


def test_chat_state_machine(provision_storage: ProvisionStorage) -> None:
    run_machine(ChatMachine, provision_storage)
