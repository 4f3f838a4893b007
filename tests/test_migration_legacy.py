"""Today's Orcheo SQLite files as a source: read-only, every table mapped, read back through stores."""

from __future__ import annotations

import stat
import uuid
from pathlib import Path

import pytest
from orcheo_storage.keys import cipher_for
from orcheo_storage.migration.manifest import MigrationError
from orcheo_storage.migration.run import MigrationSummary, migrate
from orcheo_storage.models.chat import ChatContext
from orcheo_storage.protocols.backend import BackendSession
from orcheo_storage.vault import CredentialVault

# Loads chatkit with its import-time DeprecationWarning silenced, for the stores.
import orcheo_storage.chatkit_types  # noqa: F401  # isort: skip

from legacy_files import (
    IDS,
    LEGACY_KEY,
    NOW,
    TARGET,
    build_legacy,
    file_digests,
    legacy_source,
    pg_target,
)

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize("old", [False, True], ids=["current-layout", "old-layout"])
async def test_legacy_files_migrate_and_read_back_through_the_stores(
    tmp_path: Path, old: bool
) -> None:
    legacy = tmp_path / "legacy"
    build_legacy(legacy, old=old)
    before = file_digests(legacy)
    async with pg_target(tmp_path) as target, legacy_source(legacy) as source:
        summary = await migrate(source, target, tmp_path / "export", verify_against_source=False)
        await _read_back(target, summary, old=old)
    assert file_digests(legacy) == before  # read-only: byte-identical


async def _read_back(target: BackendSession, summary: MigrationSummary, *, old: bool) -> None:
    assert summary.verified is not None
    assert summary.ok, [str(d) for d in summary.verified.differences]
    assert summary.exported is not None
    counts = summary.exported.tables
    assert counts["workflows"] == 2
    assert counts["run_history_steps"] == 3
    assert counts["chat_items"] == 2
    assert counts["service_token_audit"] == 2
    assert counts["cron_dispatch"] == (0 if old else 1)
    unmapped = summary.exported.manifest.unmapped
    assert "workflows.sqlite:some_table_from_the_future: empty table not migrated" in unmapped
    accounting = summary.exported.manifest.accounting
    assert accounting["dropped"] == {}
    assert accounting["lost"] == {}

    wf_id, ver_id, run_id = (uuid.UUID(IDS[k]) for k in ("wf", "ver", "run"))
    repo = target.workflows()
    alpha = await repo.get_workflow(wf_id)
    assert alpha.handle == "alpha"
    assert (await repo.get_workflow(uuid.UUID(IDS["wf2"]))).is_archived
    assert (await repo.get_version(ver_id)).graph == {"nodes": [1, 2.5, 2**70]}
    run = await repo.get_run(run_id)
    assert run.workflow_id == wf_id
    assert run.input_payload == {"q": "ü"}
    triggers = target.triggers()
    webhook = await triggers.get_webhook_config(wf_id)
    assert webhook.shared_secret is not None
    assert webhook.shared_secret.get_secret_value() == "hook-secret"
    assert webhook.allowed_methods == ["POST"]
    assert (await triggers.get_cron_config(wf_id)).expression == "0 * * * *"
    assert await triggers.get_last_dispatched(wf_id) == (None if old else NOW)
    assert (await triggers.get_retry_policy(wf_id)).max_attempts == 5
    subs = await target.listeners().list_subscriptions(wf_id)
    assert [s.status.value for s in subs] == ["paused"]
    cursor = await target.listeners().get_cursor(subs[0].id)
    assert cursor is not None
    assert cursor.fields == {"telegram_offset": 41}
    assert (await target.remediations().get_candidate(uuid.UUID(IDS["rem"]))).context == {
        "trace": [1]
    }
    history = await target.history().get_history("exec-1")
    assert [s.payload["big"] for s in history.steps] == [2**65] * 3
    token = await target.service_tokens().get_by_id("tok-1")
    assert token.use_count == 3
    assert token.scopes == ["read"]
    events = await target.service_tokens().list_audit_events(token_id="tok-1")
    assert {e.action for e in events} == {"created", "used"}
    checkpoint = await target.agentensor().get_checkpoint(uuid.UUID(IDS["ckpt"]))
    assert checkpoint.is_best
    assert checkpoint.metrics == {"score": 0.75}
    vault = CredentialVault(target.vault_records(), cipher_for(TARGET))
    cred_id = uuid.UUID(IDS["cred"])
    assert (await vault.reveal_secret(cred_id)).get_secret_value() == "legacy-api-key"
    assert (await vault.get_credential(cred_id)).health_status.value == "healthy"
    chat = target.chatkit()
    context = ChatContext(workflow_id=IDS["wf"])
    thread = await chat.load_thread("thr_1", context)
    assert thread.title == "Hello"
    page = await chat.load_thread_items("thr_1", None, 10, "asc", context)
    assert [i.id for i in page.data] == ["msg_0", "msg_1"]
    attachment = await chat.load_attachment("att_1", context)
    assert attachment.name == "a.txt"


async def test_legacy_vault_needs_the_right_key(tmp_path: Path) -> None:
    legacy = tmp_path / "legacy"
    build_legacy(legacy, old=False)
    async with pg_target(tmp_path) as target:
        with pytest.raises(MigrationError, match="the legacy vault key does not open") as info:
            async with legacy_source(legacy, key="not the key") as source:
                await migrate(source, target, tmp_path / "export")
        assert "ORCHEO_LEGACY_VAULT_ENCRYPTION_KEY" in str(info.value)
        assert await target.bulk().count_rows("workflows") == 0  # refused before writing


async def test_legacy_key_file_beside_the_vault_is_used(tmp_path: Path) -> None:
    legacy = tmp_path / "legacy"
    build_legacy(legacy, old=False)
    key_file = legacy / "vault.key"
    key_file.write_text(LEGACY_KEY)
    key_file.chmod(stat.S_IRUSR | stat.S_IWUSR)
    async with pg_target(tmp_path) as target, legacy_source(legacy, key=None) as source:
        summary = await migrate(source, target, tmp_path / "export", verify_against_source=False)
        vault = CredentialVault(target.vault_records(), cipher_for(TARGET))
        secret = await vault.reveal_secret(uuid.UUID(IDS["cred"]))
    assert summary.ok
    assert secret.get_secret_value() == "legacy-api-key"
