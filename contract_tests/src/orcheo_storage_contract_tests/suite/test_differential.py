"""Contract: differential testing - one generated operation sequence, two backends, same results.

The second backend comes from ``--orcheo-compare-backend NAME`` (env
``ORCHEO_CONTRACT_COMPARE_BACKEND``; default ``memory``). Observations are compared after
normalisation: random ids (UUIDs) become labels by first appearance, server-set timestamps
are dropped, and listings whose order the contract leaves to timestamp ties are sorted.
Errors are compared by type and (normalised) message; conflicts by type only.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, note
from hypothesis import strategies as st
from orcheo_storage.errors import ConflictError, StorageError
from orcheo_storage.models.chat import ChatContext
from orcheo_storage.models.common import build
from orcheo_storage.models.tokens import ServiceToken
from orcheo_storage.rules.tokens import hash_secret
from orcheo_storage.storage import Storage
from pydantic import BaseModel

from orcheo_storage_contract_tests._runner import ProvisionStorage, run
from orcheo_storage_contract_tests.chat_objects import (
    assistant_message,
    chat_thread,
    user_message,
)
from orcheo_storage_contract_tests.strategies import json_objects, json_values, safe_text

Op = tuple[Any, ...]

SERVER_TIMES = frozenset(
    {
        "created_at",
        "updated_at",
        "started_at",
        "completed_at",
        "at",
        "trace_last_span_at",
        "trace_completed_at",
        "last_used_at",
        "revoked_at",
        "acknowledged_at",
        "published_at",
        "claimed_at",
        "timestamp",
        "last_rotated_at",
        "health_checked_at",
    }
)
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
NOW = datetime(2030, 1, 1, tzinfo=UTC)
CTX = ChatContext()


class _Labels:
    """Replaces random ids with stable labels (``id#0``, ``id#1``...) by first appearance."""

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}

    def text(self, value: str) -> str:
        return UUID_RE.sub(self._label, value)

    def _label(self, match: re.Match[str]) -> str:
        return self._seen.setdefault(match.group(0), f"id#{len(self._seen)}")

    def value(self, value: Any) -> Any:
        if isinstance(value, BaseModel):
            return self.value(value.model_dump(mode="json"))
        if isinstance(value, dict):
            if value.get("has_more") is False:
                # ChatKit pages: the cursor of a last page is unused, backends may set it or not
                value = {k: v for k, v in value.items() if k != "after"}
            return {k: self.value(v) for k, v in value.items() if k not in SERVER_TIMES}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        if isinstance(value, str):
            return self.text(value)
        return value


# --- operations -----------------------------------------------------------------------------------

_eids = st.sampled_from(["e1", "e2", "e3"])
_tokens = st.sampled_from(["t1", "t2", "t3"])
_threads = st.sampled_from(["c1", "c2"])
_workflows = st.sampled_from(["wf-a", "wf-b"])


def _op(name: str, *parts: st.SearchStrategy[Any]) -> tuple[str, st.SearchStrategy[Op]]:
    return name, st.tuples(st.just(name), *parts)


_OPERATIONS: list[tuple[str, st.SearchStrategy[Op]]] = [
    _op("history.start", _eids, _workflows, json_objects),
    _op("history.append", _eids, json_values),
    _op("history.append_bad", _eids, st.sampled_from([float("nan"), "nul\x00", "\ud800"])),
    _op("history.finish", _eids, st.sampled_from(["ok", "error", "cancel"])),
    _op("history.get", _eids),
    _op("history.list", _workflows),
    _op("tokens.create", _tokens, st.none() | st.integers(-2, 2)),
    _op("tokens.revoke", _tokens),
    _op("tokens.use", _tokens),
    _op("tokens.get", _tokens),
    _op("tokens.active"),
    _op(
        "agentensor.record",
        _workflows,
        st.booleans(),
        st.none() | st.integers(1, 4),
        json_objects,
    ),
    _op("agentensor.mark_best", st.integers(0, 5)),
    _op("agentensor.list", _workflows),
    _op("chat.save_thread", _threads, json_objects, st.none() | safe_text),
    _op("chat.add", _threads, st.booleans(), safe_text),
    _op("chat.items", _threads, st.integers(1, 3), st.sampled_from(["asc", "desc"])),
    _op("chat.threads", st.integers(1, 3), st.sampled_from(["asc", "desc"])),
    _op("chat.delete", _threads),
    _op("workflows.create", safe_text, st.none() | st.sampled_from(["alpha", "beta"])),
    _op("workflows.archive", st.integers(0, 3)),
    _op("workflows.version", st.integers(0, 3), json_objects),
    _op("workflows.list"),
    _op("vault.create", st.sampled_from(["Key", "key", "other"]), safe_text),
    _op("vault.alert", st.sampled_from(["expiring", "unused"])),
    _op("vault.alerts"),
]
GROUPS = ("history", "tokens", "agentensor", "chat", "workflows", "vault")


def operations(group: str) -> st.SearchStrategy[Op]:
    """Operations of one subsystem group, or of all of them (``"mixed"``)."""
    chosen = [op for name, op in _OPERATIONS if group == "mixed" or name.startswith(group + ".")]
    return st.one_of(chosen)


class _Session:
    """Runs operations on one Storage, keeping the ids it made for later operations."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.checkpoints: list[Any] = []
        self.workflows: list[Any] = []
        self.items = itertools.count()

    async def apply(self, op: Op) -> Any:
        kind, *args = op
        handler = getattr(self, "_" + kind.replace(".", "_"))
        try:
            return await handler(*args)
        except ConflictError as exc:
            # A row that collides on two unique keys may name either of them.
            return {"error": type(exc).__name__}
        except StorageError as exc:
            return {"error": type(exc).__name__, "message": str(exc)}

    # history
    async def _history_start(self, eid: str, wf: str, inputs: dict[str, Any]) -> Any:
        return await self.storage.history.start_run(execution_id=eid, workflow_id=wf, inputs=inputs)

    async def _history_append(self, eid: str, payload: Any) -> Any:
        return await self.storage.history.append_step(eid, payload)

    async def _history_append_bad(self, eid: str, bad: Any) -> Any:
        return await self.storage.history.append_step(eid, {"bad": [bad]})

    async def _history_finish(self, eid: str, how: str) -> Any:
        if how == "ok":
            return await self.storage.history.mark_completed(eid)
        if how == "error":
            return await self.storage.history.mark_failed(eid, "boom")
        return await self.storage.history.mark_cancelled(eid, reason="stop")

    async def _history_get(self, eid: str) -> Any:
        return await self.storage.history.get_history(eid)

    async def _history_list(self, wf: str) -> Any:
        page = await self.storage.history.list_histories(wf, limit=100)
        return sorted(r.execution_id for r in page.items)

    # tokens
    async def _tokens_create(self, ident: str, expiry: int | None) -> Any:
        expires = None if expiry is None else NOW + timedelta(microseconds=expiry)
        token = build(
            ServiceToken,
            identifier=ident,
            secret_hash=hash_secret(ident),
            issued_at=NOW - timedelta(days=1),
            expires_at=expires,
        )
        return await self.storage.service_tokens.create(token)

    async def _tokens_revoke(self, ident: str) -> Any:
        return await self.storage.service_tokens.revoke(ident, reason="diff")

    async def _tokens_use(self, ident: str) -> Any:
        await self.storage.service_tokens.record_usage(ident)
        await self.storage.service_tokens.flush_usage()
        return (await self.storage.service_tokens.get_by_id(ident)).use_count

    async def _tokens_get(self, ident: str) -> Any:
        return await self.storage.service_tokens.get_by_hash(hash_secret(ident))

    async def _tokens_active(self) -> Any:
        return sorted(t.identifier for t in await self.storage.service_tokens.list_active(now=NOW))

    # agentensor
    async def _agentensor_record(
        self, wf: str, best: bool, version: int | None, metrics: dict[str, Any]
    ) -> Any:
        cp = await self.storage.agentensor.record_checkpoint(
            workflow_id=wf, is_best=best, config_version=version, metrics=metrics
        )
        self.checkpoints.append(cp.id)
        return cp

    async def _agentensor_mark_best(self, index: int) -> Any:
        if index >= len(self.checkpoints):
            return None
        return await self.storage.agentensor.mark_best(self.checkpoints[index])

    async def _agentensor_list(self, wf: str) -> Any:
        return await self.storage.agentensor.list_checkpoints(wf)

    # chat
    async def _chat_save_thread(self, tid: str, metadata: dict[str, Any], title: str | None) -> Any:
        await self.storage.chatkit.save_thread(
            chat_thread(tid, metadata=metadata, title=title), CTX
        )
        return await self.storage.chatkit.load_thread(tid, CTX)

    async def _chat_add(self, tid: str, assistant: bool, text: str) -> Any:
        item_id = f"i{next(self.items)}"
        maker = assistant_message if assistant else user_message
        await self.storage.chatkit.add_thread_item(tid, maker(item_id, tid, text), CTX)
        return await self.storage.chatkit.load_thread(tid, CTX)

    async def _chat_items(self, tid: str, limit: int, order: str) -> Any:
        return await self.storage.chatkit.load_thread_items(tid, None, limit, order, CTX)

    async def _chat_threads(self, limit: int, order: str) -> Any:
        return await self.storage.chatkit.load_threads(limit, None, order, CTX)

    async def _chat_delete(self, tid: str) -> Any:
        await self.storage.chatkit.delete_thread(tid, CTX)
        return "deleted"

    # workflows
    async def _workflows_create(self, name: str, handle: str | None) -> Any:
        workflow = await self.storage.workflows.create_workflow(
            name=name, handle=handle, actor="diff"
        )
        self.workflows.append(workflow.id)
        return workflow

    async def _workflows_archive(self, index: int) -> Any:
        if index >= len(self.workflows):
            return None
        return await self.storage.workflows.archive_workflow(self.workflows[index], actor="diff")

    async def _workflows_version(self, index: int, graph: dict[str, Any]) -> Any:
        if index >= len(self.workflows):
            return None
        return await self.storage.workflows.create_version(
            self.workflows[index], graph=graph, created_by="diff"
        )

    async def _workflows_list(self) -> Any:
        listed = await self.storage.workflows.list_workflows(include_archived=True)
        return sorted((w.name, w.handle or "", w.is_archived) for w in listed)

    # vault
    async def _vault_create(self, name: str, secret: str) -> Any:
        cred = await self.storage.vault.create_credential(
            name=name, provider="p", secret=secret, actor="diff"
        )
        return {
            "credential": cred,
            "secret": (await self.storage.vault.reveal_secret(cred.id)).get_secret_value(),
        }

    async def _vault_alert(self, kind: str) -> Any:
        return await self.storage.vault.record_alert(kind=kind, message="m")

    async def _vault_alerts(self) -> Any:
        return sorted(a.kind for a in await self.storage.vault.list_alerts())

    async def _vault_names(self) -> Any:
        return sorted(c.name for c in await self.storage.vault.list_credentials())


async def _observe(storage: Storage, program: list[Op]) -> list[Any]:
    """Every operation's result, then a snapshot of everything the program could touch."""
    session = _Session(storage)
    labels = _Labels()
    seen = [labels.value(await session.apply(op)) for op in program]
    snapshot = [
        *[("history.get", e) for e in ("e1", "e2", "e3")],
        *[("history.list", w) for w in ("wf-a", "wf-b")],
        *[("tokens.get", t) for t in ("t1", "t2", "t3")],
        ("tokens.active",),
        *[("agentensor.list", w) for w in ("wf-a", "wf-b")],
        ("chat.threads", 100, "asc"),
        *[("chat.items", c, 100, "asc") for c in ("c1", "c2")],
        ("workflows.list",),
        ("vault.alerts",),
        ("vault.names",),
    ]
    seen.append([labels.value(await session.apply(op)) for op in snapshot])
    return seen


# --- the test -------------------------------------------------------------------------------------


@pytest.mark.parametrize("group", [*GROUPS, "mixed"])
def test_same_program_same_observations(
    provision_storage: ProvisionStorage, provision_compare: ProvisionStorage, group: str
) -> None:
    """One program per subsystem group (so each group gets the full example budget)."""

    @given(program=st.lists(operations(group), min_size=1, max_size=25))
    def check(program: list[Op]) -> None:
        async def body() -> None:
            async with provision_storage() as storage:
                ours = await _observe(storage, program)
            async with provision_compare() as storage:
                theirs = await _observe(storage, program)
            steps = [*program, ("final snapshot",)]
            for step, (op, a, b) in enumerate(zip(steps, ours, theirs, strict=True)):
                note(f"{step}: {op[0]} -> {a!r}")
                assert a == b, f"step {step} {op!r}: backend gave {a!r}, comparison gave {b!r}"

        run(body())

    check()


def test_normalisation_keeps_differences_visible() -> None:
    """The normaliser must not hide real differences (a guard on the test itself)."""
    labels = _Labels()
    a = labels.value({"id": "00000000-0000-0000-0000-000000000001", "n": 1, "created_at": "x"})
    b = _Labels().value({"id": "00000000-0000-0000-0000-000000000002", "n": 1, "created_at": "y"})
    assert a == b == {"id": "id#0", "n": 1}
    assert _Labels().value({"n": 1}) != _Labels().value({"n": 2})
    assert _Labels().value({"config_version": 1}) != _Labels().value({"config_version": 2})
