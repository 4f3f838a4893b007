"""The memory backend's bulk hooks: export every logical table, import into a fresh session."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

# Imported first: it loads chatkit with its import-time DeprecationWarning silenced.
from orcheo_storage.chatkit_types import ThreadMetadata  # isort: skip
from chatkit.types import AssistantMessageContent, AssistantMessageItem, FileAttachment  # isort: skip

from orcheo_storage.crypto import VaultCipher
from orcheo_storage.errors import DuplicateError, ValidationError
from orcheo_storage.jsoncodec import JsonObject, JsonValue, dumps, loads
from orcheo_storage.memory import MemorySession
from orcheo_storage.migration.tables import LOGICAL_TABLES
from orcheo_storage.models import (
    ChatContext,
    ListenerSubscriptionSpec,
    RunStatus,
    ServiceToken,
    TokenAuditEvent,
)
from orcheo_storage.rules.tokens import hash_secret
from orcheo_storage.vault import CredentialVault

EXACT = Decimal("3.14159265358979323846264338327950288")
CTX = ChatContext(workflow_id="wf")


async def populate(session: MemorySession, cipher: VaultCipher) -> None:
    """Put at least one row in every logical table."""
    repo = session.workflows()
    wf = await repo.create_workflow(name="Flow", actor="a", handle="flow")
    v = await repo.create_version(wf.id, graph={"pi": EXACT, "big": 10**50}, created_by="a")
    run = await repo.create_run(wf.id, workflow_version_id=v.id, triggered_by="a")
    await repo.transition_run(run.id, RunStatus.RUNNING, actor="a")
    triggers = session.triggers()
    await triggers.set_webhook_config(wf.id, {"hmac_secret": "h"})
    await triggers.set_cron_config(wf.id, {"expression": "* * * * *"})
    await triggers.advance_cron_dispatch(wf.id, expected=None, new=datetime(2026, 1, 1, tzinfo=UTC))
    await triggers.set_retry_policy(wf.id, {"max_attempts": 4})
    await triggers.increment_retry_attempt(run.id)
    listeners = session.listeners()
    spec = ListenerSubscriptionSpec(node_name="n", platform="p", bot_identity_key="b")
    [sub] = await listeners.sync_subscriptions(wf.id, v.id, [spec])
    await listeners.save_cursor(sub.id, fields={"pos": EXACT})
    await listeners.record_dedupe(sub.id, "key", window_seconds=3600)
    await session.remediations().create_candidate(
        workflow_id=wf.id,
        workflow_version_id=v.id,
        run_id=run.id,
        fingerprint="fp",
        version_checksum=v.checksum,
    )
    history = session.history()
    await history.start_run(execution_id="e1", workflow_id=str(wf.id), inputs={"x": EXACT})
    await history.append_step("e1", {"step": 0})
    await history.append_step("e1", {"step": 1})
    tokens = session.service_tokens()
    await tokens.create(
        ServiceToken(identifier="t", secret_hash=hash_secret("s"), issued_at=datetime.now(UTC))
    )
    await tokens.record_usage("t")
    await tokens.record_audit_event(
        TokenAuditEvent(token_id="t", action="created", timestamp=datetime.now(UTC))
    )
    await session.agentensor().record_checkpoint(workflow_id="wf", metrics={"s": EXACT})
    vault = CredentialVault(session.vault_records(), cipher)
    template = await vault.create_template(name="T", provider="p", actor="a")
    cred = await vault.create_credential(
        name="C", provider="p", secret="plain-secret-value", actor="a", template_id=template.id
    )
    await vault.record_alert(kind="k", message="m", credential_id=cred.id)
    chat = session.chatkit()
    await chat.save_thread(ThreadMetadata(id="thr", created_at=datetime.now(UTC)), CTX)
    item = AssistantMessageItem(
        id="i1",
        thread_id="thr",
        created_at=datetime.now(UTC),
        content=[AssistantMessageContent(text="hello")],
    )
    await chat.add_thread_item("thr", item, CTX)
    attachment = FileAttachment(
        id="a1", name="f", mime_type="text/plain", thread_id="thr", metadata={"storage_path": "/p"}
    )
    await chat.save_attachment(attachment, CTX)


async def export_all(session: MemorySession) -> dict[str, list[JsonObject]]:
    bulk = session.bulk()
    tables: dict[str, list[JsonObject]] = {}
    for table in LOGICAL_TABLES:
        rows: list[JsonObject] = []
        async for batch in bulk.export_rows(table.name, batch_size=1):
            assert len(batch) == 1
            rows.extend(batch)
        tables[table.name] = rows
    return tables


async def test_round_trip_every_table() -> None:
    cipher = VaultCipher.from_passphrase("test key")
    source, target = MemorySession(cipher), MemorySession(cipher)
    await populate(source, cipher)
    exported = await export_all(source)
    assert all(exported.values()), [t for t, rows in exported.items() if not rows]
    for table, rows in exported.items():
        assert await source.bulk().count_rows(table) == len(rows)
        # Rows survive the JSON codec exactly (Decimals stay Decimals, not strings).
        wire = loads(dumps(list[JsonValue](rows)))
        assert wire == rows
        assert isinstance(wire, list)
        wire_rows = [r for r in wire if isinstance(r, dict)]
        assert await target.bulk().import_batch(table, wire_rows, batch_id=f"{table}:0")
    assert await export_all(target) == exported
    assert exported["workflow_versions"][0]["graph"] == {"pi": EXACT, "big": 10**50}
    assert [r["index"] for r in exported["run_history_steps"]] == [0, 1]
    assert "plain-secret-value" not in repr(exported["vault_credentials"])
    # The imported data is live: reads and rules work on it.
    imported_vault = CredentialVault(target.vault_records(), cipher)
    [cred] = await imported_vault.list_credentials()
    assert (await imported_vault.reveal_secret(cred.id)).get_secret_value() == "plain-secret-value"
    wf_id = await target.workflows().resolve_workflow_ref("flow")
    assert (await target.workflows().get_latest_version(wf_id)).graph["pi"] == EXACT
    assert (await target.history().append_step("e1", {})).index == 2
    item = await target.chatkit().load_item("thr", "i1", CTX)
    assert item.id == "i1"
    await source.close()
    await target.close()


async def test_ledger_and_atomic_batches() -> None:
    session = MemorySession(VaultCipher.from_passphrase("k"))
    bulk = session.bulk()
    row: JsonObject = {"run_id": str(uuid.uuid4()), "attempts": 2}
    assert await bulk.import_batch("retry_attempts", [row], batch_id="b1")
    assert not await bulk.import_batch("retry_attempts", [row], batch_id="b1")
    assert await bulk.imported_batches() == {"b1"}
    fresh: JsonObject = {"run_id": str(uuid.uuid4()), "attempts": 1}
    with pytest.raises(DuplicateError):
        await bulk.import_batch("retry_attempts", [fresh, row], batch_id="b2")
    with pytest.raises(ValidationError):
        await bulk.import_batch("retry_attempts", [fresh, {"run_id": "nope"}], batch_id="b3")
    assert await bulk.count_rows("retry_attempts") == 1  # failed batches wrote nothing
    assert await bulk.imported_batches() == {"b1"}
    with pytest.raises(ValidationError):
        await bulk.count_rows("no_such_table")
    bad_cred: JsonObject = {"id": str(uuid.uuid4()), "credential": {}, "secret": {}}
    with pytest.raises(ValidationError):
        await bulk.import_batch("vault_credentials", [bad_cred], batch_id="b4")


async def test_imported_runs_page_in_time_order_not_import_order() -> None:
    cipher = VaultCipher.from_passphrase("k")
    source = MemorySession(cipher)
    repo = source.workflows()
    wf = await repo.create_workflow(name="Flow", actor="a")
    v = await repo.create_version(wf.id, graph={}, created_by="a")
    for _ in range(5):
        await repo.create_run(wf.id, workflow_version_id=v.id, triggered_by="a")
    tables = await export_all(source)
    target = MemorySession(cipher)
    bulk = target.bulk()
    assert await bulk.import_batch("workflows", tables["workflows"], batch_id="w")
    assert await bulk.import_batch("workflow_versions", tables["workflow_versions"], batch_id="v")
    runs = tables["workflow_runs"]  # in id order, not time order
    for i, row in enumerate(reversed(runs)):
        assert await bulk.import_batch("workflow_runs", [row], batch_id=f"r{i}")
    expected = [r.id for r in (await source.workflows().list_runs(wf.id, limit=10)).items]
    first = await target.workflows().list_runs(wf.id, limit=3)
    assert first.next_cursor is not None
    rest = await target.workflows().list_runs(wf.id, limit=3, cursor=first.next_cursor)
    assert rest.next_cursor is None
    assert [r.id for r in first.items + rest.items] == expected
