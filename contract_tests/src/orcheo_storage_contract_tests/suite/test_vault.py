"""Contract: the credential vault (DOMAIN.md section 6) through ``storage.vault``.

Backends only store records; encryption and access rules live in core. These tests check
that what a backend stores and returns keeps those guarantees: ciphertext only, access
scopes, unchanged-rotation refusal, alert cascades and de-duplication, tamper detection
(through the ``storage.vault.records`` backdoor).
"""

from __future__ import annotations

import asyncio
import base64
import uuid

import pytest
from orcheo_storage.errors import (
    AlertNotFoundError,
    CredentialNotFoundError,
    DecryptionError,
    DuplicateError,
    SecretUnchangedError,
    TemplateNotFoundError,
    ValidationError,
)
from orcheo_storage.models.vault import (
    AccessContext,
    AlertSeverity,
    CredentialKind,
    EncryptedSecret,
    HealthStatus,
)
from orcheo_storage.storage import Storage

from orcheo_storage_contract_tests._support import assert_utc


def _flip(envelope: EncryptedSecret) -> EncryptedSecret:
    raw = bytearray(base64.b64decode(envelope.ciphertext))
    raw[-1] ^= 0x01
    return envelope.model_copy(update={"ciphertext": base64.b64encode(bytes(raw)).decode()})


# --- credentials and encryption -------------------------------------------------------------------


@pytest.mark.asyncio
async def test_secret_is_stored_encrypted_and_revealed(storage: Storage) -> None:
    vault = storage.vault
    cred = await vault.create_credential(
        name="OpenAI",
        provider="openai",
        secret="sk-très-secret-\U0001f511",
        actor="alice",
        scopes=["chat"],
    )
    assert cred.name == "OpenAI"
    assert cred.provider == "openai"
    assert cred.scopes == ["chat"]
    assert_utc(cred.created_at)
    assert [e.action for e in cred.audit_log] == ["credential_created"]
    revealed = await vault.reveal_secret(cred.id)
    assert revealed.get_secret_value() == "sk-très-secret-\U0001f511"
    assert "sk-" not in repr(revealed)
    record = await vault.records.get_credential(cred.id)
    assert record.credential == cred
    assert "très" not in record.secret.ciphertext
    assert "sk-" not in record.model_dump_json()
    assert record.secret.algorithm == "aes256-gcm.v1"
    assert await vault.get_credential(cred.id) == cred


@pytest.mark.asyncio
async def test_same_secret_gives_different_ciphertexts(storage: Storage) -> None:
    vault = storage.vault
    a = await vault.create_credential(name="a", provider="p", secret="same", actor="x")
    b = await vault.create_credential(name="b", provider="p", secret="same", actor="x")
    ra = await vault.records.get_credential(a.id)
    rb = await vault.records.get_credential(b.id)
    assert ra.secret.ciphertext != rb.secret.ciphertext
    assert (await vault.reveal_secret(b.id)).get_secret_value() == "same"


@pytest.mark.asyncio
async def test_tampered_ciphertext_is_detected(storage: Storage) -> None:
    vault = storage.vault
    cred = await vault.create_credential(name="t", provider="p", secret="s3cret", actor="x")
    record = await vault.records.get_credential(cred.id)
    await vault.records.replace_credential(
        record.model_copy(update={"secret": _flip(record.secret)})
    )
    with pytest.raises(DecryptionError, match="failed authentication"):
        await vault.reveal_secret(cred.id)
    with pytest.raises(DecryptionError):
        await vault.rotate_secret(cred.id, "new", actor="x")


@pytest.mark.asyncio
async def test_ciphertext_moved_to_another_credential_is_detected(storage: Storage) -> None:
    vault = storage.vault
    a = await vault.create_credential(name="a", provider="p", secret="alpha", actor="x")
    b = await vault.create_credential(name="b", provider="p", secret="beta", actor="x")
    ra = await vault.records.get_credential(a.id)
    rb = await vault.records.get_credential(b.id)
    await vault.records.replace_credential(rb.model_copy(update={"secret": ra.secret}))
    with pytest.raises(DecryptionError):
        await vault.reveal_secret(b.id)


@pytest.mark.asyncio
async def test_names_are_unique_case_insensitively(storage: Storage) -> None:
    vault = storage.vault
    await vault.create_credential(name="GitHub", provider="gh", secret="1", actor="x")
    with pytest.raises(DuplicateError, match="already exists"):
        await vault.create_credential(name="github", provider="gh", secret="2", actor="x")
    with pytest.raises(DuplicateError):
        await vault.create_credential(name="  GITHUB ", provider="gh", secret="3", actor="x")
    assert [c.name for c in await vault.list_credentials()] == ["GitHub"]


@pytest.mark.asyncio
async def test_rename_into_taken_name_is_refused(storage: Storage) -> None:
    vault = storage.vault
    a = await vault.create_credential(name="one", provider="p", secret="1", actor="x")
    await vault.create_credential(name="two", provider="p", secret="2", actor="x")
    record = await vault.records.get_credential(a.id)
    renamed = record.model_copy(
        update={"credential": record.credential.model_copy(update={"name": "TWO"})}
    )
    with pytest.raises(DuplicateError):
        await vault.records.replace_credential(renamed)
    assert (await vault.get_credential(a.id)).name == "one"


@pytest.mark.asyncio
async def test_hostile_secret_or_name_writes_nothing(storage: Storage) -> None:
    vault = storage.vault
    with pytest.raises(ValidationError, match="NUL characters are not allowed"):
        await vault.create_credential(name="n", provider="p", secret="a\x00b", actor="x")
    with pytest.raises(ValidationError, match="lone surrogates are not allowed"):
        await vault.create_credential(name="n\udc00", provider="p", secret="s", actor="x")
    assert await vault.list_credentials() == []


@pytest.mark.asyncio
async def test_missing_credential_errors(storage: Storage) -> None:
    vault = storage.vault
    missing = uuid.UUID(int=9)
    with pytest.raises(CredentialNotFoundError, match=f"credential not found: {missing}"):
        await vault.get_credential(missing)
    with pytest.raises(CredentialNotFoundError):
        await vault.reveal_secret(missing)
    with pytest.raises(CredentialNotFoundError):
        await vault.rotate_secret(missing, "x", actor="a")
    with pytest.raises(CredentialNotFoundError):
        await vault.delete_credential(missing)


# --- rotation, oauth, health ----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_rotation_to_unchanged_secret_is_refused(storage: Storage) -> None:
    vault = storage.vault
    cred = await vault.create_credential(name="r", provider="p", secret="old", actor="x")
    with pytest.raises(SecretUnchangedError, match="already holds this secret"):
        await vault.rotate_secret(cred.id, "old", actor="x")
    assert await vault.get_credential(cred.id) == cred
    rotated = await vault.rotate_secret(cred.id, "new", actor="bob")
    assert [e.action for e in rotated.audit_log] == ["credential_created", "credential_rotated"]
    assert (await vault.reveal_secret(cred.id)).get_secret_value() == "new"
    assert await vault.get_credential(cred.id) == rotated
    with pytest.raises(SecretUnchangedError):
        await vault.rotate_secret(cred.id, "new", actor="bob")


@pytest.mark.asyncio
async def test_oauth_tokens_round_trip_encrypted(storage: Storage) -> None:
    vault = storage.vault
    tokens = {
        "access_token": "at-1",
        "refresh_token": "rt-1",
        "expires_at": "2030-01-01T00:00:00.000001+00:00",
    }
    cred = await vault.create_credential(
        name="o",
        provider="google",
        secret="client",
        actor="x",
        kind=CredentialKind.OAUTH,
        oauth_tokens=tokens,
    )
    assert cred.kind is CredentialKind.OAUTH
    assert cred.oauth_expires_at is not None
    assert cred.oauth_expires_at.microsecond == 1
    record = await vault.records.get_credential(cred.id)
    assert record.oauth_tokens is not None
    assert "at-1" not in record.oauth_tokens.ciphertext
    assert await vault.reveal_oauth_tokens(cred.id) == tokens
    await vault.update_oauth_tokens(cred.id, None, actor="x")
    assert await vault.reveal_oauth_tokens(cred.id) is None


@pytest.mark.asyncio
async def test_mark_health_is_stored(storage: Storage) -> None:
    vault = storage.vault
    cred = await vault.create_credential(name="h", provider="p", secret="s", actor="x")
    marked = await vault.mark_health(cred.id, "unhealthy", reason="401", actor="probe")
    got = await vault.get_credential(cred.id)
    assert got == marked
    assert got.health_status is HealthStatus.UNHEALTHY
    assert got.health_reason == "401"


# --- access scopes --------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_access_scopes_filter_reads_and_lists(storage: Storage) -> None:
    vault = storage.vault
    open_cred = await vault.create_credential(name="open", provider="p", secret="1", actor="x")
    wf_cred = await vault.create_credential(
        name="wf-only", provider="p", secret="2", actor="x", access={"workflow_ids": ["wf-1"]}
    )
    role_cred = await vault.create_credential(
        name="admins",
        provider="p",
        secret="3",
        actor="x",
        access={"workspace_ids": ["ws-1"], "roles": ["admin"]},
    )
    wf_ctx = AccessContext(workflow_id="wf-1", workspace_id="ws-2")
    admin_ctx = AccessContext(workflow_id="wf-9", workspace_id="ws-1", roles=["admin", "dev"])
    stranger = AccessContext(workflow_id="wf-2", workspace_id="ws-1", roles=["dev"])
    assert {c.id for c in await vault.list_credentials(wf_ctx)} == {open_cred.id, wf_cred.id}
    assert {c.id for c in await vault.list_credentials(admin_ctx)} == {open_cred.id, role_cred.id}
    assert [c.id for c in await vault.list_credentials(stranger)] == [open_cred.id]
    assert len(await vault.list_credentials()) == 3
    with pytest.raises(CredentialNotFoundError):
        await vault.get_credential(wf_cred.id, stranger)
    with pytest.raises(CredentialNotFoundError):
        await vault.reveal_secret(role_cred.id, stranger)
    assert (await vault.reveal_secret(role_cred.id, admin_ctx)).get_secret_value() == "3"


@pytest.mark.asyncio
async def test_templates_crud_and_scopes(storage: Storage) -> None:
    vault = storage.vault
    template = await vault.create_template(
        name="Slack bot",
        provider="slack",
        actor="x",
        scopes=["chat:write"],
        access={"workspace_ids": ["ws-1"]},
        issuance_policy={"max_ttl_days": 30, "ratio": 0.25},
    )
    assert await vault.get_template(template.id) == template
    updated = await vault.update_template(template.id, actor="y", description="posts messages")
    assert updated.description == "posts messages"
    assert await vault.get_template(template.id) == updated
    assert await vault.list_templates(AccessContext(workspace_id="ws-2")) == []
    assert await vault.list_templates(AccessContext(workspace_id="ws-1")) == [updated]
    with pytest.raises(TemplateNotFoundError):
        await vault.get_template(template.id, AccessContext(workspace_id="ws-2"))
    await vault.delete_template(template.id)
    with pytest.raises(TemplateNotFoundError, match="credential template not found"):
        await vault.get_template(template.id)


# --- alerts ---------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_alert_dedupe_updates_unacknowledged_match(storage: Storage) -> None:
    vault = storage.vault
    cred = await vault.create_credential(name="c", provider="p", secret="s", actor="x")
    first = await vault.record_alert(kind="expiring", message="in 7 days", credential_id=cred.id)
    second = await vault.record_alert(
        kind="expiring", message="in 6 days", credential_id=cred.id, severity="critical"
    )
    assert second.id == first.id
    assert second.created_at == first.created_at
    assert second.message == "in 6 days"
    assert second.severity is AlertSeverity.CRITICAL
    other_kind = await vault.record_alert(kind="unused", message="m", credential_id=cred.id)
    assert other_kind.id != first.id
    alerts = await vault.list_alerts()
    assert sorted(a.id for a in alerts) == sorted([first.id, other_kind.id])
    assert next(a for a in alerts if a.id == first.id).message == "in 6 days"


@pytest.mark.asyncio
async def test_acknowledge_is_idempotent_and_starts_a_new_alert(storage: Storage) -> None:
    vault = storage.vault
    alert = await vault.record_alert(kind="k", message="m")
    acked = await vault.acknowledge_alert(alert.id, actor="alice")
    assert acked.acknowledged
    assert acked.acknowledged_by == "alice"
    assert_utc(acked.acknowledged_at)
    again = await vault.acknowledge_alert(alert.id, actor="bob")
    assert again == acked
    assert await vault.list_alerts() == []
    assert await vault.list_alerts(include_acknowledged=True) == [acked]
    fresh = await vault.record_alert(kind="k", message="again")
    assert fresh.id != alert.id
    assert not fresh.acknowledged
    with pytest.raises(AlertNotFoundError, match="governance alert not found"):
        await vault.acknowledge_alert(uuid.UUID(int=1), actor="x")


@pytest.mark.asyncio
async def test_deleting_credential_or_template_deletes_its_alerts(storage: Storage) -> None:
    vault = storage.vault
    cred = await vault.create_credential(name="c", provider="p", secret="s", actor="x")
    template = await vault.create_template(name="t", provider="p", actor="x")
    keep = await vault.record_alert(kind="general", message="stays")
    await vault.record_alert(kind="a", message="m", credential_id=cred.id)
    acked = await vault.record_alert(kind="b", message="m", credential_id=cred.id)
    await vault.acknowledge_alert(acked.id, actor="x")
    await vault.record_alert(kind="a", message="m", template_id=template.id)
    await vault.delete_credential(cred.id)
    await vault.delete_template(template.id)
    assert [a.id for a in await vault.list_alerts(include_acknowledged=True)] == [keep.id]
    with pytest.raises(CredentialNotFoundError):
        await vault.get_credential(cred.id)


@pytest.mark.asyncio
async def test_alerts_newest_first(storage: Storage) -> None:
    vault = storage.vault
    ids = []
    for n in range(4):
        ids.append((await vault.record_alert(kind=f"k{n}", message="m")).id)
        await asyncio.sleep(0.002)  # distinct created_at: ties may order either way
    assert [a.id for a in await vault.list_alerts()] == list(reversed(ids))


@pytest.mark.asyncio
async def test_returned_credentials_are_copies(storage: Storage) -> None:
    vault = storage.vault
    cred = await vault.create_credential(
        name="c", provider="p", secret="s", actor="x", scopes=["a"]
    )
    cred.scopes.append("admin")
    got = await vault.get_credential(cred.id)
    got.access.roles.append("root")
    got.audit_log.clear()
    again = await vault.get_credential(cred.id)
    assert again.scopes == ["a"]
    assert again.access.roles == []
    assert len(again.audit_log) == 1
