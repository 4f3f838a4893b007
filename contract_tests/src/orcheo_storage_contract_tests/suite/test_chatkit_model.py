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
from orcheo_storage.errors import ItemNotFoundError, ThreadNotFoundError, ValidationError
from orcheo_storage.jsoncodec import normalise_json, normalise_object
from orcheo_storage.models.chat import ChatContext
from orcheo_storage.protocols.backend import Capability

from orcheo_storage_contract_tests._runner import (
    MODEL_STEPS,
    ClockedStateMachine,
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
from orcheo_storage_contract_tests.near_miss import near_misses
from orcheo_storage_contract_tests.observation import assert_same, scribble
from orcheo_storage_contract_tests.reference.tokens_checkpoints import contains, fragments
from orcheo_storage_contract_tests.strategies import (
    fidelity_objects,
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
    updated_at: datetime
    metadata: dict[str, Any]
    items: list[str] = dataclasses.field(default_factory=list)
    title: str | None = None


class ChatMachine(ClockedStateMachine):
    """Threads and items against a model: order, scoping, pagination exactly once."""

    def __init__(self, provision: ProvisionStorage, containment: bool = False) -> None:
        super().__init__(provision)
        self.containment = containment
        self.threads: dict[str, _ThreadModel] = {}
        self.counter = 0

    def _next(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.counter:03d}"

    @rule(
        workflow=st.sampled_from(["wf-a", "wf-b"]),
        offset=st.integers(min_value=0, max_value=3),
        metadata=fidelity_objects,
    )
    def create_thread(self, workflow: str, offset: int, metadata: dict[str, Any]) -> None:
        tid = self._next("t")
        created = CHAT_T0 + timedelta(microseconds=offset)
        metadata = {k: v for k, v in metadata.items() if k != "workflow_id"}
        self.call(
            self.storage.chatkit.save_thread(
                chat_thread(tid, created_at=created, metadata=metadata),
                ChatContext(workflow_id=workflow),
            )
        )
        stored = {**normalise_object(metadata, "metadata"), "workflow_id": workflow}
        self.threads[tid] = _ThreadModel(workflow, created, self.clock.now(), stored)

    @precondition(lambda self: bool(self.threads))
    @rule(data=st.data())
    def resave_thread(self, data: st.DataObject) -> None:
        """An upsert keeps created_at (whatever the caller sends) and moves updated_at."""
        tid = data.draw(st.sampled_from(list(self.threads)))
        model = self.threads[tid]
        thread = chat_thread(tid, created_at=CHAT_T0 + timedelta(days=1), metadata=model.metadata)
        self.call(self.storage.chatkit.save_thread(thread, ChatContext(workflow_id=model.workflow)))
        model.updated_at = self.clock.now()

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
        model = self.threads[tid]
        model.items.append(item_id)
        model.updated_at = self.clock.now()
        if model.title is None and not assistant:
            model.title = "u"

    @precondition(lambda self: any(t.items for t in self.threads.values()))
    @rule(data=st.data())
    def resave_item(self, data: st.DataObject) -> None:
        tid = data.draw(st.sampled_from([t for t, m in self.threads.items() if m.items]))
        item_id = data.draw(st.sampled_from(self.threads[tid].items))
        self.call(
            self.storage.chatkit.save_item(tid, assistant_message(item_id, tid, "resaved"), CTX)
        )
        self.threads[tid].updated_at = self.clock.now()

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

    def _new_thread_with_item(self, workflow: str) -> str:
        tid = self._next("t")
        ctx = ChatContext(workflow_id=workflow)
        self.call(self.storage.chatkit.save_thread(chat_thread(tid, created_at=CHAT_T0), ctx))
        self.threads[tid] = _ThreadModel(
            workflow, CHAT_T0, self.clock.now(), {"workflow_id": workflow}
        )
        item_id = self._next("i")
        self.call(self.storage.chatkit.add_thread_item(tid, user_message(item_id, tid, "u"), ctx))
        self.threads[tid].items.append(item_id)
        self.threads[tid].title = "u"
        return tid

    @rule(data=st.data())
    def item_through_a_sibling_thread(self, data: st.DataObject) -> None:
        """An item is found and deleted only through its own thread (threads are made when
        there are not enough)."""
        with_items = [t for t, m in self.threads.items() if m.items]
        tid = (
            data.draw(st.sampled_from(with_items))
            if with_items
            else self._new_thread_with_item("wf-a")
        )
        others = [t for t in self.threads if t != tid]
        other = data.draw(st.sampled_from(others)) if others else self._new_thread_with_item("wf-b")
        item_id = data.draw(st.sampled_from(self.threads[tid].items))
        with pytest.raises(ItemNotFoundError):
            self.call(self.storage.chatkit.load_item(other, item_id, CTX))
        self.call(self.storage.chatkit.delete_thread_item(other, item_id, CTX))
        assert self.call(self.storage.chatkit.load_item(tid, item_id, CTX)).id == item_id

    @rule()
    def prune_after_activity(self) -> None:
        """A thread saved a moment ago and given an item now is not idle: prune keeps it."""
        self.clock.advance(timedelta(microseconds=1))
        tid = self._next("t")
        ctx = ChatContext(workflow_id="wf-b")
        self.call(self.storage.chatkit.save_thread(chat_thread(tid, created_at=CHAT_T0), ctx))
        self.threads[tid] = _ThreadModel("wf-b", CHAT_T0, self.clock.now(), {"workflow_id": "wf-b"})
        self.clock.advance(timedelta(microseconds=1))
        item_id = self._next("i")
        self.call(
            self.storage.chatkit.add_thread_item(tid, assistant_message(item_id, tid, "a"), ctx)
        )
        self.threads[tid].items.append(item_id)
        self.threads[tid].updated_at = self.clock.now()
        self.prune(timedelta(0))

    @precondition(lambda self: self.containment)
    @rule(data=st.data(), scope=st.sampled_from([None, "wf-a"]))
    def filter_by_metadata(self, data: st.DataObject, scope: str | None) -> None:
        """Containment at every depth, newest first, the scope and the limit after the filter
        (two threads of wf-a at least, so order and limit matter)."""
        while sum(m.workflow == "wf-a" for m in self.threads.values()) < 2:
            self._new_thread_with_item("wf-a")
        source = self.threads[data.draw(st.sampled_from(list(self.threads)))]
        shared = {"workflow_id": "wf-a"}  # matches every thread of wf-a
        picked = data.draw(st.sampled_from([*fragments(source.metadata), {"absent": 1}]))
        for fragment in (shared, picked):
            for limit in (1, 50):
                got = self.call(
                    self.storage.chatkit.filter_threads(
                        fragment, ChatContext(workflow_id=scope), limit=limit
                    )
                )
                expected = sorted(
                    (
                        t
                        for t, m in self.threads.items()
                        if (scope is None or m.workflow == scope) and contains(m.metadata, fragment)
                    ),
                    key=lambda t: (self.threads[t].created_at, t),
                    reverse=True,
                )[:limit]
                assert [t.id for t in got] == expected, (
                    f"filter_threads({fragment!r}, {scope}, {limit})"
                )

    @rule(back=st.sampled_from([timedelta(0), timedelta(microseconds=1), timedelta(hours=3)]))
    def prune(self, back: timedelta) -> None:
        """Threads not updated since the cutoff go (with their items); the rest stay."""
        cutoff = self.clock.now() - back
        result = self.call(self.storage.chatkit.prune_threads(older_than=cutoff))
        doomed = [t for t, m in self.threads.items() if m.updated_at < cutoff]
        note(f"prune before {cutoff.isoformat()}: {doomed}")
        assert result.threads_deleted == len(doomed)
        for tid in doomed:
            del self.threads[tid]

    @rule(data=st.data())
    def probe_near_misses(self, data: st.DataObject) -> None:
        tid = data.draw(st.sampled_from([*self.threads, "t-001"]))
        for miss in near_misses(tid):
            if miss not in self.threads:
                with pytest.raises(ThreadNotFoundError):
                    self.call(self.storage.chatkit.load_thread(miss, CTX))

    @precondition(lambda self: bool(self.threads))
    @rule(data=st.data())
    def scribble_on_results(self, data: st.DataObject) -> None:
        tid = data.draw(st.sampled_from(list(self.threads)))
        scribble(self.call(self.storage.chatkit.load_thread(tid, CTX)))
        page = self.call(self.storage.chatkit.load_thread_items(tid, None, 50, "asc", CTX))
        for item in page.data:
            scribble(item)
        for thread in self.call(self.storage.chatkit.load_threads(50, None, "asc", CTX)).data:
            scribble(thread)

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
    def threads_match(self) -> None:
        for tid, model in self.threads.items():
            for scope in (None, model.workflow):
                loaded = self.call(
                    self.storage.chatkit.load_thread(tid, ChatContext(workflow_id=scope))
                )
                assert_same(loaded.metadata, model.metadata, f"metadata of {tid}")
                assert_same(loaded.created_at, model.created_at, f"created_at of {tid}")
                assert loaded.title == model.title, f"title of {tid}: {loaded.title!r}"
            other = "wf-b" if model.workflow == "wf-a" else "wf-a"
            with pytest.raises(ThreadNotFoundError):
                self.call(self.storage.chatkit.load_thread(tid, ChatContext(workflow_id=other)))
            page = self.call(self.storage.chatkit.load_thread_items(tid, None, 50, "asc", CTX))
            assert [i.id for i in page.data] == model.items
            assert all(i.thread_id == tid for i in page.data)

    @invariant()
    def ordinals_gapless_and_unique(self) -> None:
        for tid, model in self.threads.items():
            ordinals = self.call(stored_ordinals(self.storage, tid))
            assert len(ordinals) == len(set(ordinals)) == len(model.items)
            assert ordinals == sorted(ordinals)


def test_chat_state_machine(provision_storage: ProvisionStorage, backend_manifest: Any) -> None:
    containment = Capability.JSON_CONTAINMENT in backend_manifest.capabilities
    run_machine(ChatMachine, provision_storage, min_steps=MODEL_STEPS, containment=containment)
