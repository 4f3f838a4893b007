"""Every fact of a corpus's ``expected.json``, checked through the public store API.

:func:`check_facts` takes a :class:`~orcheo_storage.storage.Storage` opened on a target a
corpus was migrated into, and asserts each fact the corpus README lists: workflows
(publication, chat config, handles), versions with Orcheo's checksums, runs, remediations,
triggers, listeners and cursors, run history, agentensor checkpoints, service tokens
(authenticated by the SHA-256 of their raw secrets), ChatKit threads, items and
attachments, and vault secrets and OAuth tokens decrypted.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from orcheo_storage.models.chat import ChatContext
from orcheo_storage.storage import Storage

# The corpus's expiries are in the past or more than ten years ahead: stable over time.
NOW = datetime.now(UTC)


def _t(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


async def check_facts(storage: Storage, facts: dict[str, Any]) -> None:
    await _workflows(storage, facts)
    await _runs_and_remediations(storage, facts)
    await _triggers(storage, facts)
    await _listeners(storage, facts)
    await _history_and_agentensor(storage, facts)
    await _chatkit(storage, facts)
    if "service_tokens" in facts:
        await _tokens(storage, facts)
    if "vault" in facts:
        await _vault(storage, facts)


async def _workflows(storage: Storage, facts: dict[str, Any]) -> None:
    repo = storage.workflows
    listed = {w.id for w in await repo.list_workflows(include_archived=True)}
    assert listed == {uuid.UUID(w["id"]) for w in facts["workflows"]}
    for want in facts["workflows"]:
        wf = await repo.get_workflow(uuid.UUID(want["id"]))
        assert (wf.handle, wf.name, wf.slug) == (want["handle"], want["name"], want["slug"])
        assert wf.description == want["description"]
        assert wf.tags == want["tags"]
        assert wf.is_archived == want["is_archived"]
        assert wf.publication.is_public == want["is_public"], want["id"]
        assert wf.publication.require_login == want["require_login"]
        if want["is_public"]:
            assert wf.publication.published_at is not None
            assert wf.publication.published_by
        assert wf.draft_access.value == want["draft_access"]
        assert (wf.chat is not None) == want["has_chatkit_config"], want["id"]
        assert len(wf.audit_log) == want["audit_log_length"]
        versions = await repo.list_versions(wf.id)
        assert [v.version for v in versions] == want["version_numbers"]
        for v, expected in zip(versions, want["versions"], strict=True):
            assert str(v.id) == expected["id"]
            assert v.version == expected["version"]
            assert v.checksum == expected["graph_checksum"], (want["id"], v.version)
            assert (v.runnable_config is not None) == expected["has_runnable_config"]
            assert v.updated_at >= v.created_at
        if want["handle"] and not want["is_archived"]:
            assert await repo.resolve_workflow_ref(want["handle"]) == wf.id


async def _runs_and_remediations(storage: Storage, facts: dict[str, Any]) -> None:
    repo = storage.workflows
    for want in facts["runs"]:
        run = await repo.get_run(uuid.UUID(want["id"]))
        assert str(run.workflow_id) == want["workflow_id"]
        assert str(run.workflow_version_id) == want["workflow_version_id"]
        assert (run.status.value, run.triggered_by) == (want["status"], want["triggered_by"])
        assert (run.output_payload is not None) == want["has_output"]
        assert run.error == want["error"]
    for want in facts["remediations"]:
        rem = await storage.remediations.get_candidate(uuid.UUID(want["id"]))
        assert str(rem.workflow_id) == want["workflow_id"]
        assert str(rem.run_id) == want["run_id"]
        assert (rem.status.value, rem.attempt_count) == (want["status"], want["attempt_count"])
        assert rem.fingerprint == want["fingerprint"]
        assert rem.classification == want["classification"]
        created = want["created_version_id"]
        assert rem.created_version_id == (None if created is None else uuid.UUID(created))
        assert rem.audit_log, "remediation audit log carried"
        version = await repo.get_version(rem.workflow_version_id)
        assert rem.version_checksum == version.checksum  # Orcheo's checksums, unchanged


async def _triggers(storage: Storage, facts: dict[str, Any]) -> None:
    triggers = storage.triggers
    for want in facts["triggers"]["webhook_triggers"]:
        got = await triggers.get_webhook_config(uuid.UUID(want["workflow_id"]))
        config = want["config"]
        for name in ("shared_secret", "hmac_secret"):
            secret = getattr(got, name)
            assert (None if secret is None else secret.get_secret_value()) == config[name]
        plain = got.model_dump(mode="json", exclude={"shared_secret", "hmac_secret"})
        for name, value in config.items():
            if name not in ("shared_secret", "hmac_secret"):
                assert plain[name] == value, (want["workflow_id"], name)
    for want in facts["triggers"]["cron_triggers"]:
        wid = uuid.UUID(want["workflow_id"])
        cron = await triggers.get_cron_config(wid)
        assert cron.model_dump(mode="json") == want["config"]
        assert await triggers.get_last_dispatched(wid) == _t(want["last_dispatched_at"])
    for want in facts["triggers"]["retry_policies"]:
        policy = await triggers.get_retry_policy(uuid.UUID(want["workflow_id"]))
        assert policy.model_dump(mode="json") == want["config"]


async def _listeners(storage: Storage, facts: dict[str, Any]) -> None:
    listeners = storage.listeners
    for want in facts["listener_subscriptions"]:
        sub = await listeners.get_subscription(uuid.UUID(want["id"]))
        assert str(sub.workflow_id) == want["workflow_id"]
        assert str(sub.workflow_version_id) == want["workflow_version_id"]
        assert (sub.node_name, sub.platform) == (want["node_name"], want["platform"])
        assert sub.bot_identity_key == want["bot_identity_key"]
        assert sub.status.value == want["status"]
        assert sub.assigned_runtime == want["assigned_runtime"]
        assert sub.last_error == want["last_error"]
    for want in facts["listener_cursors"]:
        cursor = await listeners.get_cursor(uuid.UUID(want["subscription_id"]))
        assert cursor is not None
        for name in ("telegram_offset", "discord_sequence", "qq_sequence"):
            assert cursor.fields.get(name) == want[name], (want["subscription_id"], name)
    for want in facts["triggers"]["listener_dedupe"]:
        # Still inside its (ten-year) window: a repeat is a duplicate.
        fresh = await listeners.record_dedupe(
            uuid.UUID(want["subscription_id"]), want["dedupe_key"], window_seconds=60
        )
        assert fresh is False, want


async def _history_and_agentensor(storage: Storage, facts: dict[str, Any]) -> None:
    for want in facts["executions"]:
        record = await storage.history.get_history(want["execution_id"])
        assert record.workflow_id == want["workflow_id"]
        assert record.status.value == want["status"]
        assert len(record.steps) == want["step_count"]
        assert [s.index for s in record.steps] == list(range(want["step_count"]))
        assert record.error == want["error"]
        assert record.trace_id == want["trace_id"]
    by_workflow: dict[str, list[bool]] = {}
    for want in facts["agentensor_checkpoints"]:
        ckpt = await storage.agentensor.get_checkpoint(uuid.UUID(want["id"]))
        assert ckpt.workflow_id == want["workflow_id"]
        assert ckpt.config_version == want["config_version"]
        assert ckpt.is_best == want["is_best"]
        assert ckpt.artifact_url == want["artifact_url"]
        by_workflow.setdefault(want["workflow_id"], []).append(want["is_best"])
    for workflow_id, bests in by_workflow.items():
        best = await storage.agentensor.best_checkpoint(workflow_id)
        assert (best is not None) == any(bests)


async def _tokens(storage: Storage, facts: dict[str, Any]) -> None:
    tokens = storage.service_tokens
    for want in facts["service_tokens"]:
        digest = hashlib.sha256(want["secret"].encode()).hexdigest()
        assert digest == want["sha256"]
        token = await tokens.get_by_hash(digest)  # the raw secret authenticates
        assert token is not None
        assert token.identifier == want["identifier"]
        assert sorted(token.scopes) == sorted(want["scopes"])
        assert sorted(token.workspace_ids) == sorted(want["workspace_ids"])
        assert (token.revoked_at is not None) == want["revoked"]
        assert token.revocation_reason == want["revocation_reason"]
        expired = token.expires_at is not None and token.expires_at <= NOW
        assert expired == want["expired"]
        assert token.expires_at == _t(want["expires_at"])
        assert token.rotated_to == want["rotated_to"]
        assert token.rotation_expires_at == _t(want["rotation_expires_at"])
        assert token.use_count == want["use_count"]
        assert (token.last_used_at is not None) == want["last_used_at_set"]
        assert token.created_at is not None
        events = await tokens.list_audit_events(token_id=want["identifier"], limit=1000)
        assert [e.action for e in reversed(events)] == want["audit_events"]


async def _chatkit(storage: Storage, facts: dict[str, Any]) -> None:
    chat = storage.chatkit
    for want in facts["chatkit"]["threads"]:
        context = ChatContext(workflow_id=want["workflow_id"])
        thread = await chat.load_thread(want["id"], context)
        assert thread.title == want["title"]
        assert thread.status.type == want["status"]
        page = await chat.load_thread_items(want["id"], None, 1000, "asc", context)
        assert [i.id for i in page.data] == want["item_ids"]
        assert [i.type for i in page.data] == want["item_types"]
        assert len(page.data) == want["item_count"]
    threads = {t["id"]: t["workflow_id"] for t in facts["chatkit"]["threads"]}
    for want in facts["chatkit"]["attachments"]:
        context = ChatContext(workflow_id=threads.get(want["thread_id"]))
        attachment = await chat.load_attachment(want["id"], context)
        assert (attachment.type, attachment.name) == (want["type"], want["name"])
        assert attachment.mime_type == want["mime_type"]
        assert attachment.thread_id == want["thread_id"], want["id"]


async def _vault(storage: Storage, facts: dict[str, Any]) -> None:
    vault = storage.vault
    for want in facts["vault"]["credentials"]:
        cid = uuid.UUID(want["id"])
        cred = await vault.get_credential(cid)
        assert (cred.name, cred.provider, cred.kind.value) == (
            want["name"],
            want["provider"],
            want["kind"],
        )
        assert cred.access.model_dump() == want["scope"]
        template = want["template_id"]
        assert cred.template_id == (None if template is None else uuid.UUID(template))
        assert cred.health_status.value == want["health"]
        assert (await vault.reveal_secret(cid)).get_secret_value() == want["secret"]
        tokens = await vault.reveal_oauth_tokens(cid)
        if "oauth_tokens" in want:
            assert tokens is not None
            assert tokens["access_token"] == want["oauth_tokens"]["access_token"]
            assert tokens["refresh_token"] == want["oauth_tokens"]["refresh_token"]
            expires = _t(want["oauth_tokens"]["expires_at"])
            assert _t(tokens["expires_at"]) == expires
            assert cred.oauth_expires_at == expires
        else:
            assert tokens is None
    for want in facts["vault"]["templates"]:
        template = await vault.get_template(uuid.UUID(want["id"]))
        assert (template.name, template.provider, template.kind.value) == (
            want["name"],
            want["provider"],
            want["kind"],
        )
    alerts = {str(a.id): a for a in await vault.list_alerts(include_acknowledged=True)}
    assert set(alerts) == {a["id"] for a in facts["vault"]["alerts"]}
    for want in facts["vault"]["alerts"]:
        alert = alerts[want["id"]]
        assert (alert.kind, alert.severity.value) == (want["kind"], want["severity"])
        assert alert.acknowledged == want["acknowledged"]
        for name in ("credential_id", "template_id"):
            value = getattr(alert, name)
            assert (None if value is None else str(value)) == want[name]
        assert alert.audit_log
