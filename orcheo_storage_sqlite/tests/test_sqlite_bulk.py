"""Bulk hooks: streaming export in key order, atomic ledgered import, a full round trip."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path

import pytest
from orcheo_storage.clock import utcnow
from orcheo_storage.errors import UnsupportedError
from orcheo_storage.keys import cipher_for
from orcheo_storage.migration.tables import LOGICAL_TABLES
from orcheo_storage.models.chat import ChatContext
from orcheo_storage.models.tokens import ServiceToken, TokenAuditEvent
from orcheo_storage.vault import CredentialVault
from orcheo_storage_sqlite.bulk_tables import MAPPINGS
from orcheo_storage_sqlite.session import SqliteSession


def test_every_logical_table_is_mapped() -> None:
    assert set(MAPPINGS) == {t.name for t in LOGICAL_TABLES}


async def _fill(session: SqliteSession, settings) -> None:
    from chatkit.types import (
        InferenceOptions,
        ThreadMetadata,
        UserMessageItem,
        UserMessageTextContent,
    )
    from orcheo_storage_sqlite.chat import SqliteChatStore  # imports chatkit quietly

    wf = session.workflows()
    workflow = await wf.create_workflow(name="bulk", actor="t", handle="bulk")
    version = await wf.create_version(
        workflow.id,
        graph={"big": 10**40, "exact": Decimal("0.1000000000000000000001")},
        created_by="t",
    )
    run = await wf.create_run(workflow.id, workflow_version_id=version.id, triggered_by="t")
    await session.triggers().set_cron_config(workflow.id, {"expression": "* * * * *"})
    await session.triggers().set_webhook_config(workflow.id, {"shared_secret": "s3"})
    await session.triggers().advance_cron_dispatch(workflow.id, expected=None, new=utcnow())
    await session.triggers().increment_retry_attempt(run.id)
    subs = await session.listeners().sync_subscriptions(
        workflow.id, version.id, [{"node_name": "n", "platform": "p", "bot_identity_key": "b"}]
    )
    await session.listeners().save_cursor(subs[0].id, fields={"offset": 3})
    await session.listeners().record_dedupe(subs[0].id, "k", window_seconds=60)
    await session.remediations().create_candidate(
        workflow_id=workflow.id,
        workflow_version_id=version.id,
        run_id=run.id,
        fingerprint="fp",
        version_checksum=version.checksum,
    )
    await session.history().start_run(execution_id="e", workflow_id=str(workflow.id))
    for i in range(5):
        await session.history().append_step("e", {"i": i})
    await session.service_tokens().create(
        ServiceToken(
            identifier="t", secret_hash=hashlib.sha256(b"t").hexdigest(), issued_at=utcnow()
        )
    )
    await session.service_tokens().record_audit_event(
        TokenAuditEvent(token_id="t", action="created", timestamp=utcnow())
    )
    await session.agentensor().record_checkpoint(workflow_id="w", metrics={"f1": 0.5}, is_best=True)
    vault = CredentialVault(session.vault_records(), cipher_for(settings))
    template = await vault.create_template(name="tpl", provider="p", actor="t")
    await vault.create_credential(
        name="c", provider="p", secret="x", actor="t", template_id=template.id
    )
    chat: SqliteChatStore = session.chatkit()
    ctx = ChatContext(workflow_id=str(workflow.id))
    await chat.save_thread(ThreadMetadata(id="thr", created_at=utcnow()), ctx)
    await chat.add_thread_item(
        "thr",
        UserMessageItem(
            id="m1",
            thread_id="thr",
            created_at=utcnow(),
            content=[UserMessageTextContent(text="findable words")],
            inference_options=InferenceOptions(),
        ),
        ctx,
    )


async def test_round_trip_between_two_sqlite_sessions(tmp_path: Path, make_settings) -> None:
    source_settings = make_settings(tmp_path / "a")
    target_settings = make_settings(tmp_path / "b")
    source = await SqliteSession.open(source_settings)
    target = await SqliteSession.open(target_settings)
    try:
        await _fill(source, source_settings)
        src, dst = source.bulk(), target.bulk()
        batch_ids: set[str] = set()
        for table in LOGICAL_TABLES:
            n = 0
            async for batch in src.export_rows(table.name, batch_size=2):
                assert len(batch) <= 2
                assert await dst.import_batch(table.name, batch, batch_id=f"{table.name}:{n}")
                # The same batch again is refused and writes nothing.
                assert not await dst.import_batch(table.name, batch, batch_id=f"{table.name}:{n}")
                batch_ids.add(f"{table.name}:{n}")
                n += 1
            assert await dst.count_rows(table.name) == await src.count_rows(table.name)
        for table in LOGICAL_TABLES:
            exported = [r async for b in src.export_rows(table.name) for r in b]
            imported = [r async for b in dst.export_rows(table.name) for r in b]
            assert imported == exported, table.name
        assert await dst.imported_batches() == batch_ids
        # The imported data works through the stores: numbering and search continue.
        workflow_id = await target.workflows().resolve_workflow_ref("bulk")
        version = await target.workflows().create_version(workflow_id, graph={}, created_by="t")
        assert version.version == 2
        assert (await target.history().append_step("e", {})).index == 5
        ctx = ChatContext(workflow_id=str(workflow_id))
        assert [i.id for i in await target.chatkit().search_items("thr", "FINDABLE", ctx)] == ["m1"]
        got = await target.workflows().get_version(version.id)
        assert got.version == 2
    finally:
        await source.close()
        await target.close()


async def test_export_is_in_key_order(session: SqliteSession) -> None:
    for i in range(7):
        await session.history().start_run(execution_id=f"x{i}", workflow_id="w")
    keys = [
        r["execution_id"]
        async for b in session.bulk().export_rows("run_histories", batch_size=3)
        for r in b
    ]
    assert keys == sorted(keys)
    assert len(keys) == 7


async def test_failed_batch_writes_nothing(session: SqliteSession) -> None:
    bulk = session.bulk()
    good = {"execution_id": "ok", "workflow_id": "w", "started_at": utcnow().isoformat()}
    bad = {"execution_id": "bad", "workflow_id": "w"}  # no started_at
    with pytest.raises(Exception):  # noqa: B017 - any validation error
        await bulk.import_batch("run_histories", [good, bad], batch_id="b1")
    assert await bulk.count_rows("run_histories") == 0
    assert "b1" not in await bulk.imported_batches()


async def test_langgraph_missing_gives_install_hint(session: SqliteSession) -> None:
    import importlib.util

    if importlib.util.find_spec("langgraph") is not None:
        async with session.langgraph_checkpointer() as saver:
            assert saver is not None
        return
    with pytest.raises(UnsupportedError, match=r"orcheo-storage-sqlite\[langgraph\]"):
        async with session.langgraph_checkpointer():
            pass
