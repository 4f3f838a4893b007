"""Contract: ``BulkTransfer.apply_changes`` - a batch of deletes and upserts, exactly once.

Rows are real rows of the backend: made through the stores in a source namespace and read
with ``export_rows``. They go into a target with ``import_batch``; then ``apply_changes``
updates, inserts and deletes, and the target's export must equal a dict model keyed by the
logical key (rows compared in canonical form, so timestamp spellings do not matter).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from orcheo_storage.errors import ConflictError, NotFoundError, ValidationError
from orcheo_storage.jsoncodec import JsonObject, JsonValue
from orcheo_storage.migration.canonical import canonical_row, row_key
from orcheo_storage.migration.tables import LOGICAL_TABLES, TABLES_BY_NAME, dependency_order
from orcheo_storage.models.chat import ChatContext
from orcheo_storage.models.tokens import ServiceToken, TokenAuditEvent
from orcheo_storage.protocols.backend import BulkTransfer, Subsystem
from orcheo_storage.rules.tokens import hash_secret
from orcheo_storage.storage import Storage

from orcheo_storage_contract_tests._runner import ProvisionStorage, run
from orcheo_storage_contract_tests._support import GRAPH, make_version, make_workflow
from orcheo_storage_contract_tests.chat_objects import (
    assistant_message,
    chat_thread,
    file_attachment,
    user_message,
)

CTX = ChatContext()
T0 = datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def _bulk(storage: Storage, subsystem: Subsystem) -> BulkTransfer:
    return storage.session_for(subsystem).bulk()


def _batch() -> str:
    return f"changes-{uuid.uuid4().hex}"


async def _export(bulk: BulkTransfer, table: str) -> list[JsonObject]:
    return [row async for batch in bulk.export_rows(table, batch_size=3) for row in batch]


def _key(table: str, row: JsonObject) -> list[JsonValue]:
    return list(row_key(row, TABLES_BY_NAME[table].key))


def _canonical(table: str, rows: Iterable[JsonObject]) -> dict[tuple[Any, ...], bytes]:
    rows = list(rows)
    keyed = {row_key(row, TABLES_BY_NAME[table].key): canonical_row(row) for row in rows}
    assert len(keyed) == len(rows), f"{table}: a logical key occurs twice"
    return keyed


class Expected:
    """The rows a logical table must hold: the test's model, keyed by logical key."""

    def __init__(self, table: str, rows: Iterable[JsonObject] = ()) -> None:
        self.table = table
        self.rows = {row_key(r, TABLES_BY_NAME[table].key): r for r in rows}
        self.gone: set[tuple[Any, ...]] = set()

    def apply(self, upserts: list[JsonObject], deletes: list[list[JsonValue]]) -> None:
        for key in deletes:
            self.rows.pop(tuple(key), None)
            self.gone.add(tuple(key))
        for row in upserts:
            found = row_key(row, TABLES_BY_NAME[self.table].key)
            self.rows[found] = row
            self.gone.discard(found)

    async def check(self, bulk: BulkTransfer) -> None:
        got = await _export(bulk, self.table)
        assert _canonical(self.table, got) == _canonical(self.table, self.rows.values())
        # fetch_rows: exactly the rows of the keys asked for; deleted keys are skipped.
        for part in (0, 1):
            wanted = [k for n, k in enumerate(self.rows) if n % 2 == part]
            asked = [list(k) for k in wanted] + [list(k) for k in self.gone]
            fetched = await bulk.fetch_rows(self.table, asked)
            expected = [self.rows[k] for k in wanted]
            assert _canonical(self.table, fetched) == _canonical(self.table, expected)
        assert await bulk.count_rows(self.table) == len(self.rows)


async def _seed(
    source: BulkTransfer, target: BulkTransfer, table: str, *, late: Iterable[Any] = ()
) -> tuple[Expected, dict[tuple[Any, ...], JsonObject]]:
    """Import ``table`` from source into target except the rows keyed ``late``.

    Returns the target's model and every source row by logical key (late ones included).
    """
    rows = await _export(source, table)
    held_back = {(str(k),) if not isinstance(k, tuple) else k for k in late}
    first = [r for r in rows if tuple(_key(table, r)) not in held_back]
    assert await target.import_batch(table, first, batch_id=_batch())
    return Expected(table, first), {tuple(_key(table, r)): r for r in rows}


async def _apply(
    bulk: BulkTransfer,
    model: Expected,
    upserts: list[JsonObject],
    deletes: list[list[JsonValue]],
) -> str:
    batch_id = _batch()
    assert await bulk.apply_changes(model.table, upserts, deletes, batch_id=batch_id)
    model.apply(upserts, deletes)
    await model.check(bulk)
    assert batch_id in await bulk.imported_batches()
    return batch_id


# --- scenarios per subsystem ---------------------------------------------------------------------


async def test_workflows_and_versions(provision_storage: ProvisionStorage) -> None:
    async with provision_storage() as source, provision_storage() as target:
        a = await make_workflow(source, "A", handle="wf-a")
        b, c, d = [await make_workflow(source, n) for n in "BCD"]
        a1, a2 = await make_version(source, a), await make_version(source, a)
        b1, a3 = await make_version(source, b), await make_version(source, a)
        src, dst = _bulk(source, Subsystem.WORKFLOWS), _bulk(target, Subsystem.WORKFLOWS)
        flows, wf = await _seed(src, dst, "workflows", late=[d.id])
        versions, vs = await _seed(src, dst, "workflow_versions", late=[a3.id])

        edited = {**vs[(str(a2.id),)], "notes": "edited"}
        await _apply(dst, versions, [edited, vs[(str(a3.id),)]], [[str(b1.id)]])
        # The parent's update comes after its new version: it must not reset the numbering.
        renamed = {**wf[(str(a.id),)], "name": "A renamed", "description": "changed"}
        batch = await _apply(dst, flows, [renamed, wf[(str(d.id),)]], [[str(c.id)]])

        # A replayed batch id changes nothing, whatever it carries.
        assert not await dst.apply_changes(
            "workflows", [{**renamed, "name": "again"}], [[str(a.id)]], batch_id=batch
        )
        await flows.check(dst)
        # The updated parent kept its children, and numbering continues after them.
        assert (await target.workflows.get_workflow(a.id)).name == "A renamed"
        assert (await target.workflows.get_version(a1.id)).version == 1
        assert (await target.workflows.get_version(a2.id)).notes == "edited"
        nxt = await target.workflows.create_version(a.id, graph=GRAPH, created_by="t")
        assert nxt.version == 4


async def test_histories_and_steps(provision_storage: ProvisionStorage) -> None:
    async with provision_storage() as source, provision_storage() as target:
        for eid, count in (("e1", 3), ("e2", 2), ("e3", 0), ("e4", 1)):
            await source.history.start_run(execution_id=eid, workflow_id="wf")
            for i in range(count):
                await source.history.append_step(eid, {"i": i})
        src, dst = _bulk(source, Subsystem.HISTORY), _bulk(target, Subsystem.HISTORY)
        records, rec = await _seed(src, dst, "run_histories", late=["e4"])
        steps, st_rows = await _seed(src, dst, "run_history_steps", late=[("e1", 2), ("e4", 0)])

        renamed = {**rec[("e1",)], "run_name": "renamed"}
        await _apply(dst, records, [renamed, rec[("e2",)], rec[("e4",)]], [["e3"]])
        changed: JsonObject = {**st_rows[("e1", 1)], "payload": {"i": "changed"}}
        await _apply(dst, steps, [changed, st_rows[("e1", 2)], st_rows[("e4", 0)]], [])

        got = await target.history.get_history("e1")
        assert got.run_name == "renamed"
        assert [s.payload for s in got.steps] == [{"i": 0}, {"i": "changed"}, {"i": 2}]
        assert (await target.history.append_step("e1", {})).index == 3
        assert (await target.history.append_step("e4", {})).index == 1
        assert (await target.history.append_step("e2", {})).index == 2


async def test_chat_threads_and_items(provision_storage: ProvisionStorage) -> None:
    async with provision_storage() as source, provision_storage() as target:
        chat = source.chatkit
        for tid in ("t1", "t2"):
            await chat.save_thread(chat_thread(tid, title=tid), CTX)
        for n in range(3):
            await chat.add_thread_item("t1", user_message(f"t1-{n}", "t1", f"hello {n}"), CTX)
        await chat.add_thread_item("t2", assistant_message("t2-0", "t2", "bye"), CTX)
        src, dst = _bulk(source, Subsystem.CHATKIT), _bulk(target, Subsystem.CHATKIT)
        threads, th = await _seed(src, dst, "chat_threads")
        items, it = await _seed(src, dst, "chat_items", late=[("t1", 2)])

        first: Any = it[("t1", 0)]
        content = [{**first["item"]["content"][0], "text": "new words"}]
        reworded = {**first, "item": {**first["item"], "content": content}}
        await _apply(dst, items, [reworded, it[("t1", 2)]], [["t2", 0]])
        await _apply(dst, threads, [{**th[("t1",)], "title": "retitled"}], [["t2"]])

        loaded = await target.chatkit.load_thread_items("t1", None, 10, "asc", CTX)
        assert [i.id for i in loaded.data] == ["t1-0", "t1-1", "t1-2"]
        assert (await target.chatkit.load_thread("t1", CTX)).title == "retitled"
        await target.chatkit.add_thread_item("t1", user_message("t1-3", "t1", "next"), CTX)
        rows = await _export(dst, "chat_items")
        assert [(r["id"], r["ordinal"]) for r in rows if r["thread_id"] == "t1"][-1] == ("t1-3", 3)


async def test_vault_credentials_by_dotted_key(provision_storage: ProvisionStorage) -> None:
    async with provision_storage() as source, provision_storage() as target:
        template = await source.vault.create_template(name="tpl", provider="p", actor="a")
        c1, c2, c3 = [
            await source.vault.create_credential(
                name=f"cred-{n}", provider="p", secret=f"s{n}", actor="a", template_id=template.id
            )
            for n in range(3)
        ]
        src, dst = _bulk(source, Subsystem.VAULT), _bulk(target, Subsystem.VAULT)
        await _seed(src, dst, "vault_templates")
        creds, by_key = await _seed(src, dst, "vault_credentials", late=[c3.id])
        row: Any = by_key[(str(c1.id),)]
        renamed = {**row, "credential": {**row["credential"], "name": "renamed"}}
        await _apply(dst, creds, [renamed, by_key[(str(c3.id),)]], [[str(c2.id)]])
        assert (await target.vault.get_credential(c1.id)).name == "renamed"
        assert (await target.vault.reveal_secret(c3.id)).get_secret_value() == "s2"


async def test_token_audit_sequence_continues_and_never_goes_back(
    provision_storage: ProvisionStorage,
) -> None:
    async with provision_storage() as source, provision_storage() as target:
        for action in ("created", "used", "rotated", "revoked"):
            await source.service_tokens.record_audit_event(
                TokenAuditEvent(token_id="tok", action=action, timestamp=T0)
            )
        src = _bulk(source, Subsystem.SERVICE_TOKENS)
        dst = _bulk(target, Subsystem.SERVICE_TOKENS)
        audit, by_seq = await _seed(src, dst, "service_token_audit", late=[(4,)])
        moved = {**by_seq[(4,)], "seq": 5}
        await _apply(dst, audit, [{**by_seq[(2,)], "action": "edited"}, moved], [[1]])

        async def record(action: str) -> int:
            await target.service_tokens.record_audit_event(
                TokenAuditEvent(token_id="tok", action=action, timestamp=T0)
            )
            rows = await _export(dst, "service_token_audit")
            return int(next(r["seq"] for r in rows if r["action"] == action))  # type: ignore[arg-type]

        assert await record("next") == 6
        # Deleting the highest rows (with an upsert of a lower one) does not move it back.
        audit = Expected("service_token_audit", await _export(dst, "service_token_audit"))
        await _apply(dst, audit, [{**by_seq[(3,)], "action": "again"}], [[6], [5]])
        assert await record("after-delete") == 7


async def test_checkpoint_versions_continue(provision_storage: ProvisionStorage) -> None:
    async with provision_storage() as source, provision_storage() as target:
        made = [await source.agentensor.record_checkpoint(workflow_id="w") for _ in range(3)]
        src = _bulk(source, Subsystem.AGENTENSOR)
        dst = _bulk(target, Subsystem.AGENTENSOR)
        points, by_id = await _seed(src, dst, "agentensor_checkpoints", late=[made[2].id])
        await _apply(dst, points, [by_id[(str(made[2].id),)]], [])
        assert (await target.agentensor.record_checkpoint(workflow_id="w")).config_version == 4


# --- exactly once, all or nothing ----------------------------------------------------------------


async def test_a_bad_row_leaves_nothing_of_the_batch(provision_storage: ProvisionStorage) -> None:
    async with provision_storage() as source, provision_storage() as target:
        a = await make_workflow(source, "A", handle="taken")
        b, c = await make_workflow(source, "B"), await make_workflow(source, "C")
        d = await make_workflow(source, "D")
        src, dst = _bulk(source, Subsystem.WORKFLOWS), _bulk(target, Subsystem.WORKFLOWS)
        flows, wf = await _seed(src, dst, "workflows", late=[d.id])
        update_b = {**wf[(str(b.id),)], "name": "B renamed"}
        clash = {**wf[(str(d.id),)], "handle": "taken"}  # A holds it
        invalid = {**wf[(str(d.id),)], "id": "not-a-uuid"}
        for bad, error in ((invalid, ValidationError), (clash, ConflictError)):
            batch_id = _batch()
            with pytest.raises(error):
                await dst.apply_changes(
                    "workflows", [update_b, bad], [[str(c.id)]], batch_id=batch_id
                )
            await flows.check(dst)
            assert batch_id not in await dst.imported_batches()
        with pytest.raises(ValidationError):  # a key of the wrong width
            await dst.apply_changes("workflows", [], [[str(a.id), 1]], batch_id=_batch())
        with pytest.raises(ConflictError):  # one key upserted twice
            await dst.apply_changes("workflows", [update_b, update_b], [], batch_id=_batch())
        await flows.check(dst)


async def test_refused_references_are_typed_bad_row_errors(storage: Storage) -> None:
    """A version of a missing workflow, or deleting a workflow that still has versions: a
    backend without foreign keys may accept them; one with them refuses the batch with a
    typed error (what a migration treats as a bad row) and keeps nothing of it."""
    bulk = _bulk(storage, Subsystem.WORKFLOWS)
    wf = await make_workflow(storage)
    await make_version(storage, wf)
    [version] = await _export(bulk, "workflow_versions")
    orphan: JsonObject = {**version, "id": str(uuid.uuid4()), "workflow_id": str(uuid.uuid4())}
    cases: list[tuple[str, list[JsonObject], list[list[JsonValue]]]] = [
        ("workflow_versions", [orphan], []),
        ("workflows", [], [[str(wf.id)]]),
    ]
    for table, upserts, deletes in cases:
        model = Expected(table, await _export(bulk, table))
        batch_id = _batch()
        try:
            await bulk.apply_changes(table, upserts, deletes, batch_id=batch_id)
        except (ValidationError, ConflictError, NotFoundError):
            await model.check(bulk)
            assert batch_id not in await bulk.imported_batches()


async def test_missing_deletes_are_fine_and_an_upsert_wins_over_its_delete(
    storage: Storage,
) -> None:
    bulk = _bulk(storage, Subsystem.TRIGGERS)
    run_a, run_b = str(uuid.uuid4()), str(uuid.uuid4())
    model = Expected("retry_attempts")
    await _apply(bulk, model, [{"run_id": run_a, "attempts": 1}], [[str(uuid.uuid4())]])
    await _apply(
        bulk, model, [{"run_id": run_a, "attempts": 2}, {"run_id": run_b, "attempts": 0}], [[run_a]]
    )
    await _apply(bulk, model, [], [[run_a], [run_a]])
    assert model.rows == {(run_b,): {"run_id": run_b, "attempts": 0}}


# --- every table ---------------------------------------------------------------------------------


async def _fill(storage: Storage) -> None:
    """At least one row in every logical table, through the stores."""
    wf = await make_workflow(storage, "Every", handle="every")
    version = await make_version(storage, wf)
    run_ = await storage.workflows.create_run(
        wf.id, workflow_version_id=version.id, triggered_by="t"
    )
    await storage.triggers.set_webhook_config(wf.id, {"hmac_secret": "h"})
    await storage.triggers.set_cron_config(wf.id, {"expression": "* * * * *"})
    await storage.triggers.advance_cron_dispatch(wf.id, expected=None, new=T0)
    await storage.triggers.set_retry_policy(wf.id, {"max_attempts": 4})
    await storage.triggers.increment_retry_attempt(run_.id)
    spec = {"node_name": "n", "platform": "p", "bot_identity_key": "b"}
    [sub] = await storage.listeners.sync_subscriptions(wf.id, version.id, [spec])  # type: ignore[list-item]
    await storage.listeners.save_cursor(sub.id, fields={"pos": 1})
    await storage.listeners.record_dedupe(sub.id, "key", window_seconds=3600)
    await storage.remediations.create_candidate(
        workflow_id=wf.id,
        workflow_version_id=version.id,
        run_id=run_.id,
        fingerprint="fp",
        version_checksum=version.checksum,
    )
    await storage.history.start_run(execution_id="e", workflow_id=str(wf.id))
    await storage.history.append_step("e", {"step": 0})
    token = ServiceToken(identifier="t", secret_hash=hash_secret("s"), issued_at=T0)
    await storage.service_tokens.create(token)
    await storage.service_tokens.record_audit_event(
        TokenAuditEvent(token_id="t", action="created", timestamp=T0)
    )
    await storage.agentensor.record_checkpoint(workflow_id="wf", metrics={"s": 1})
    template = await storage.vault.create_template(name="T", provider="p", actor="a")
    cred = await storage.vault.create_credential(
        name="C", provider="p", secret="x", actor="a", template_id=template.id
    )
    await storage.vault.record_alert(kind="k", message="m", credential_id=cred.id)
    await storage.chatkit.save_thread(chat_thread("thr"), CTX)
    await storage.chatkit.add_thread_item("thr", user_message("i1", "thr", "hi"), CTX)
    await storage.chatkit.save_attachment(file_attachment("a1", thread_id="thr"), CTX)


async def test_every_table_upserts_in_place_and_deletes_by_key(
    provision_storage: ProvisionStorage,
) -> None:
    async with provision_storage() as source, provision_storage() as target:
        await _fill(source)
        models: dict[str, Expected] = {}
        for table in LOGICAL_TABLES:
            bulk_src = _bulk(source, _SUBSYSTEMS[table.name])
            bulk_dst = _bulk(target, _SUBSYSTEMS[table.name])
            models[table.name], _ = await _seed(bulk_src, bulk_dst, table.name)
            assert models[table.name].rows, f"{table.name}: the fill made no row"
        for name in dependency_order():  # every row again, as an upsert: nothing changes
            model = models[name]
            await _apply(_bulk(target, _SUBSYSTEMS[name]), model, list(model.rows.values()), [])
        for name in reversed(dependency_order()):  # children first
            model = models[name]
            keys = [list(k) for k in model.rows]
            await _apply(_bulk(target, _SUBSYSTEMS[name]), model, [], keys)
            assert await _bulk(target, _SUBSYSTEMS[name]).count_rows(name) == 0


_TABLES_OF = {
    Subsystem.WORKFLOWS: "workflows workflow_versions workflow_runs",
    Subsystem.TRIGGERS: "webhook_triggers cron_triggers cron_dispatch retry_policies retry_attempts",
    Subsystem.LISTENERS: "listener_subscriptions listener_cursors listener_dedupe",
    Subsystem.REMEDIATIONS: "remediation_candidates",
    Subsystem.HISTORY: "run_histories run_history_steps",
    Subsystem.SERVICE_TOKENS: "service_tokens service_token_audit",
    Subsystem.AGENTENSOR: "agentensor_checkpoints",
    Subsystem.VAULT: "vault_templates vault_credentials vault_alerts",
    Subsystem.CHATKIT: "chat_threads chat_items chat_attachments",
}
_SUBSYSTEMS = {table: sub for sub, names in _TABLES_OF.items() for table in names.split()}


# --- property: random batches against a dict model -----------------------------------------------

RUN_IDS = [str(uuid.UUID(int=n + 1)) for n in range(5)]
DEDUPE_KEYS = ["a", "b", "c", "d"]
STAMPS = [datetime(2030, 1, 1, tzinfo=UTC), datetime(2031, 6, 1, 8, 0, 0, 1, tzinfo=UTC)]

batches = st.lists(
    st.tuples(
        st.dictionaries(st.integers(0, 4), st.integers(0, 10**6), max_size=5),
        st.lists(st.integers(0, 4), max_size=4),
        st.booleans(),  # replay an earlier batch id (with this batch's content)
    ),
    min_size=1,
    max_size=6,
)


@given(program=batches)
def test_property_random_batches_match_a_dict_model(
    provision_storage: ProvisionStorage,
    program: list[tuple[dict[int, int], list[int], bool]],
) -> None:
    async def body() -> None:
        async with provision_storage() as storage:
            wf = await make_workflow(storage)
            version = await make_version(storage, wf)
            spec = {"node_name": "n", "platform": "p", "bot_identity_key": "b"}
            [sub] = await storage.listeners.sync_subscriptions(wf.id, version.id, [spec])  # type: ignore[list-item]
            attempts, dedupe = Expected("retry_attempts"), Expected("listener_dedupe")
            done: list[str] = []
            for upserts, deletes, replay in program:
                attempt_rows: list[JsonObject] = [
                    {"run_id": RUN_IDS[k], "attempts": n} for k, n in upserts.items()
                ]
                dedupe_rows: list[JsonObject] = [
                    {
                        "subscription_id": str(sub.id),
                        "dedupe_key": DEDUPE_KEYS[k % 4],
                        "expires_at": STAMPS[n % 2].isoformat(),
                        "created_at": None if n % 3 == 0 else STAMPS[(n + 1) % 2].isoformat(),
                    }
                    for k, n in upserts.items()
                    if k < 4
                ]
                attempt_keys: list[list[JsonValue]] = [[RUN_IDS[k]] for k in deletes]
                dedupe_keys: list[list[JsonValue]] = [
                    [str(sub.id), DEDUPE_KEYS[k % 4]] for k in deletes
                ]
                for model, rows, keys in (
                    (attempts, attempt_rows, attempt_keys),
                    (dedupe, dedupe_rows, dedupe_keys),
                ):
                    bulk = _bulk(storage, _SUBSYSTEMS[model.table])
                    if replay and done:
                        assert not await bulk.apply_changes(
                            model.table, rows, keys, batch_id=done[-1]
                        )
                        await model.check(bulk)
                    else:
                        done.append(await _apply(bulk, model, rows, keys))

    run(body())


@pytest.mark.asyncio
async def test_imported_attachment_takes_its_rows_thread(storage: Storage) -> None:
    """Today's Orcheo keeps an attachment's thread in its row, not in its document."""
    await storage.chatkit.save_thread(chat_thread("thr_imp"), CTX)
    bulk = _bulk(storage, Subsystem.CHATKIT)
    document: JsonObject = {
        "id": "atc_imp",
        "type": "file",
        "name": "old.txt",
        "mime_type": "text/plain",
        "upload_url": None,  # a key ChatKit 1.4 wrote and newer versions no longer have
    }
    row: JsonObject = {
        "id": "atc_imp",
        "thread_id": "thr_imp",
        "storage_path": "/srv/blobs/atc_imp",
        "created_at": T0.isoformat(),
        "attachment": document,
    }
    assert await bulk.import_batch("chat_attachments", [row], batch_id=_batch())
    loaded = await storage.chatkit.load_attachment("atc_imp", CTX)
    assert loaded.thread_id == "thr_imp"
    exported = [r async for batch in bulk.export_rows("chat_attachments") for r in batch]
    assert exported[0]["attachment"] == document  # kept verbatim, older keys included
    await storage.chatkit.delete_thread("thr_imp", CTX)
    assert (await storage.chatkit.load_attachment("atc_imp", CTX)).thread_id is None
