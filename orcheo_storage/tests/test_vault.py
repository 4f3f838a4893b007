"""The CredentialVault facade (encryption and access rules in core) over the real memory
backend, opened through ``open_storage``."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from orcheo_storage.errors import (
    CredentialNotFoundError,
    DecryptionError,
    DuplicateError,
    SecretUnchangedError,
    TemplateNotFoundError,
)
from orcheo_storage.models.vault import AccessContext, AccessScope, HealthStatus
from orcheo_storage.settings import StorageSettings
from orcheo_storage.storage import open_storage
from orcheo_storage.vault import CredentialVault, can_access

SECRET = "sk-live-canary-4242"


@pytest.fixture
async def vault() -> AsyncIterator[CredentialVault]:
    settings = StorageSettings(
        repository_backend="memory", checkpoint_backend="memory", chatkit_backend="memory",
        vault_backend="memory", auth_service_token_backend="memory",
    )  # fmt: skip
    async with open_storage(settings) as storage:
        yield storage.vault


def test_can_access_rules() -> None:
    scope = AccessScope(workflow_ids=["wf1"], workspace_ids=["ws1"], roles=["admin", "ops"])
    assert can_access(scope, None)  # system context
    assert can_access(scope, AccessContext(workflow_id="wf1", workspace_id="ws1", roles=["ops"]))
    assert not can_access(
        scope, AccessContext(workflow_id="wf2", workspace_id="ws1", roles=["ops"])
    )
    assert not can_access(
        scope, AccessContext(workflow_id="wf1", workspace_id="ws2", roles=["ops"])
    )
    assert not can_access(
        scope, AccessContext(workflow_id="wf1", workspace_id="ws1", roles=["dev"])
    )
    assert can_access(AccessScope(), AccessContext())
    assert can_access(AccessScope(roles=["a"]), AccessContext(roles=["b", "a"]))


async def test_secrets_are_encrypted_and_revealed(vault: CredentialVault) -> None:
    cred = await vault.create_credential(
        name=" OpenAI ", provider="openai", secret=SECRET, actor="al"
    )
    assert cred.name == "OpenAI"
    assert [e.action for e in cred.audit_log] == ["credential_created"]
    assert await vault.get_credential(cred.id) == cred
    assert [c.id for c in await vault.list_credentials()] == [cred.id]
    revealed = await vault.reveal_secret(cred.id)
    assert revealed.get_secret_value() == SECRET
    assert SECRET not in repr(revealed)
    stored = await vault.records.get_credential(cred.id)
    assert SECRET not in stored.model_dump_json()
    assert stored.secret.key_id == "primary"
    assert SECRET not in repr(vault)
    with pytest.raises(DuplicateError):
        await vault.create_credential(name="openai", provider="x", secret="s", actor="al")


async def test_ciphertext_moved_to_another_row_is_detected(vault: CredentialVault) -> None:
    a = await vault.create_credential(name="a", provider="p", secret="secret-a", actor="t")
    b = await vault.create_credential(name="b", provider="p", secret="secret-b", actor="t")
    record_a = await vault.records.get_credential(a.id)
    record_b = await vault.records.get_credential(b.id)
    await vault.records.replace_credential(record_b.model_copy(update={"secret": record_a.secret}))
    with pytest.raises(DecryptionError):
        await vault.reveal_secret(b.id)


async def test_rotation(vault: CredentialVault) -> None:
    cred = await vault.create_credential(name="c", provider="p", secret="one", actor="t")
    with pytest.raises(SecretUnchangedError):
        await vault.rotate_secret(cred.id, "one", actor="t")
    rotated = await vault.rotate_secret(cred.id, "two", actor="ops")
    assert rotated.audit_log[-1].action == "credential_rotated"
    assert (await vault.reveal_secret(cred.id)).get_secret_value() == "two"
    with pytest.raises(CredentialNotFoundError):
        await vault.rotate_secret(uuid.uuid4(), "x", actor="t")


async def test_access_scope_hides_credentials(vault: CredentialVault) -> None:
    scoped = await vault.create_credential(
        name="scoped", provider="p", secret="s", actor="t", access={"workflow_ids": ["wf1"]}
    )
    open_ = await vault.create_credential(name="open", provider="p", secret="s", actor="t")
    other = AccessContext(workflow_id="wf2")
    assert [c.id for c in await vault.list_credentials(other)] == [open_.id]
    assert {c.id for c in await vault.list_credentials(AccessContext(workflow_id="wf1"))} == {
        scoped.id, open_.id,
    }  # fmt: skip
    with pytest.raises(CredentialNotFoundError):
        await vault.get_credential(scoped.id, other)
    with pytest.raises(CredentialNotFoundError):
        await vault.reveal_secret(scoped.id, other)


async def test_oauth_tokens_and_health(vault: CredentialVault) -> None:
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    tokens = {"access_token": "at-canary", "refresh_token": "rt", "expires_at": expires.isoformat()}
    cred = await vault.create_credential(
        name="o",
        provider="google",
        secret="client-secret",
        actor="t",
        kind="oauth",
        oauth_tokens=tokens,
    )
    assert cred.oauth_expires_at == expires
    assert "at-canary" not in (await vault.records.get_credential(cred.id)).model_dump_json()
    assert await vault.reveal_oauth_tokens(cred.id) == tokens
    cleared = await vault.update_oauth_tokens(cred.id, None, actor="t")
    assert cleared.oauth_expires_at is None
    assert await vault.reveal_oauth_tokens(cred.id) is None
    sick = await vault.mark_health(cred.id, "unhealthy", reason="401", actor="probe")
    assert (sick.health_status, sick.health_reason) == (HealthStatus.UNHEALTHY, "401")
    assert sick.audit_log[-1].metadata == {"status": "unhealthy", "reason": "401"}


async def test_templates(vault: CredentialVault) -> None:
    template = await vault.create_template(
        name="Slack bot", provider="slack", actor="t", access={"roles": ["admin"]}
    )
    assert await vault.get_template(template.id) == template
    with pytest.raises(TemplateNotFoundError):
        await vault.get_template(template.id, AccessContext(roles=["dev"]))
    assert await vault.list_templates(AccessContext(roles=["dev"])) == []
    updated = await vault.update_template(template.id, actor="t", description="d", bogus="ignored")
    assert updated.description == "d"
    assert updated.audit_log[-1].metadata == {"fields": ["description"]}
    await vault.delete_template(template.id)
    with pytest.raises(TemplateNotFoundError):
        await vault.get_template(template.id)


async def test_alerts_dedupe_acknowledge_and_cascade(vault: CredentialVault) -> None:
    cred = await vault.create_credential(name="c", provider="p", secret="s", actor="t")
    first = await vault.record_alert(kind="expiring", message="soon", credential_id=cred.id)
    second = await vault.record_alert(
        kind="expiring", message="sooner", severity="critical", credential_id=cred.id
    )
    assert second.id == first.id
    assert second.message == "sooner"
    assert [a.id for a in await vault.list_alerts()] == [first.id]
    acked = await vault.acknowledge_alert(first.id, actor="ops")
    again = await vault.acknowledge_alert(first.id, actor="someone-else")
    assert again.acknowledged_by == "ops"
    assert again.acknowledged_at == acked.acknowledged_at
    assert await vault.list_alerts() == []
    third = await vault.record_alert(kind="expiring", message="new", credential_id=cred.id)
    assert third.id != first.id  # an acknowledged alert is not updated
    await vault.delete_credential(cred.id)
    assert await vault.list_alerts(include_acknowledged=True) == []
