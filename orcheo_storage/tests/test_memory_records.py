"""Smoke tests of the memory backend's history, service tokens, agentensor and vault."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from orcheo_storage.errors import (
    CheckpointNotFoundError,
    CredentialNotFoundError,
    DuplicateError,
    ExecutionNotFoundError,
    SecretUnchangedError,
    TokenNotFoundError,
    ValidationError,
)
from orcheo_storage.models import AccessContext, HistoryStatus, ServiceToken, TokenAuditEvent
from orcheo_storage.rules.tokens import hash_secret
from orcheo_storage.settings import StorageSettings
from orcheo_storage.storage import Storage, open_storage


def memory_settings() -> StorageSettings:
    """Every subsystem on the memory backend."""
    return StorageSettings(
        repository_backend="memory",
        checkpoint_backend="memory",
        chatkit_backend="memory",
        vault_backend="memory",
        auth_service_token_backend="memory",
    )


@pytest.fixture
async def storage() -> AsyncIterator[Storage]:
    async with open_storage(memory_settings()) as opened:
        yield opened


# --- history -----------------------------------------------------------------------------------


async def test_history_lifecycle_and_steps(storage: Storage) -> None:
    history = storage.history
    record = await history.start_run(
        execution_id="e1", workflow_id="wf", inputs=[1, 2], metadata={"at": datetime(2026, 1, 1)}
    )
    assert record.inputs == {"value": [1, 2]}
    assert record.metadata == {"at": "2026-01-01T00:00:00"}
    with pytest.raises(DuplicateError):
        await history.start_run(execution_id="e1", workflow_id="wf")
    steps = await asyncio.gather(*(history.append_step("e1", {"i": i}) for i in range(10)))
    assert sorted(s.index for s in steps) == list(range(10))
    with pytest.raises(ExecutionNotFoundError):
        await history.append_step("missing", {})
    with pytest.raises(ValidationError):
        await history.append_step("e1", {"bad": "\x00"})
    got = await history.get_history("e1")
    assert [s.index for s in got.steps] == list(range(10))
    assert got.trace_last_span_at is not None
    assert (await history.get_history("e1", include_steps=False)).steps == []
    assert [s.index for s in await history.list_steps("e1", after_index=6, limit=2)] == [7, 8]
    done = await history.mark_failed("e1", "boom")
    assert (done.status, done.error) == (HistoryStatus.ERROR, "boom")
    assert done.completed_at is not None
    with pytest.raises(ExecutionNotFoundError):
        await history.mark_completed("missing")


async def test_history_list_pages_newest_first(storage: Storage) -> None:
    history = storage.history
    for i in range(5):
        await history.start_run(execution_id=f"e{i}", workflow_id="wf")
    await history.start_run(execution_id="other", workflow_id="wf2")
    seen: list[str] = []
    cursor = None
    while True:
        page = await history.list_histories("wf", limit=2, cursor=cursor)
        assert all(r.steps == [] for r in page.items)
        seen += [r.execution_id for r in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [f"e{i}" for i in reversed(range(5))]
    with pytest.raises(ValidationError):
        await history.list_histories("wf", cursor="not a cursor")


# --- service tokens ----------------------------------------------------------------------------


def _token(identifier: str, secret: str, **extra: object) -> ServiceToken:
    return ServiceToken(
        identifier=identifier,
        secret_hash=hash_secret(secret),
        issued_at=datetime.now(UTC),
        **extra,
    )


async def test_tokens_crud_usage_revocation_and_audit(storage: Storage) -> None:
    tokens = storage.service_tokens
    created = await tokens.create(_token("t1", "s1", scopes=["read"]))
    with pytest.raises(DuplicateError):
        await tokens.create(_token("t1", "other"))
    with pytest.raises(DuplicateError) as dup:
        await tokens.create(_token("t2", "s1"))
    assert hash_secret("s1") not in str(dup.value)
    expired = _token("t3", "s3", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    await tokens.create(expired)
    found = await tokens.get_by_hash(hash_secret("s1"))
    assert found == created
    assert await tokens.get_by_hash(hash_secret("nope")) is None
    assert [t.identifier for t in await tokens.list_active()] == ["t1"]
    await asyncio.gather(*(tokens.record_usage("t1", ip="10.0.0.1") for _ in range(5)))
    await tokens.flush_usage()
    used = await tokens.get_by_id("t1")
    assert used.use_count == 5
    assert used.last_used_at is not None
    revoked = await tokens.revoke("t1", reason="leaked", actor="admin")
    assert revoked.revoked_at is not None
    lookup = await tokens.get_by_hash(hash_secret("s1"))
    assert lookup is not None
    assert not lookup.is_active(datetime.now(UTC))
    await tokens.record_audit_event(
        TokenAuditEvent(token_id="t1", action="rotated", timestamp=datetime.now(UTC))
    )
    events = await tokens.list_audit_events(token_id="t1", limit=3)
    assert [e.action for e in events] == ["rotated", "revoked", "used"]
    await tokens.delete("t1")
    await tokens.delete("t1")
    with pytest.raises(TokenNotFoundError):
        await tokens.get_by_id("t1")
    assert await tokens.get_by_hash(hash_secret("s1")) is None
    with pytest.raises(TokenNotFoundError):
        await tokens.update(_token("ghost", "g"))


async def test_models_that_skipped_validation_are_rejected(storage: Storage) -> None:
    tokens = storage.service_tokens
    # model_copy(update=...) does not validate: the store validates what it keeps.
    hostile = _token("t", "s").model_copy(update={"scopes": ["bad\x00"]})
    with pytest.raises(ValidationError):
        await tokens.create(hostile)
    assert await tokens.list_all() == []
    event = TokenAuditEvent(token_id="t", action="x", timestamp=datetime.now(UTC))
    with pytest.raises(ValidationError):
        await tokens.record_audit_event(event.model_copy(update={"details": {"n": float("inf")}}))
    assert await tokens.list_audit_events() == []


# --- agentensor --------------------------------------------------------------------------------


async def test_agentensor_versions_best_and_containment(storage: Storage) -> None:
    store = storage.agentensor
    results = await asyncio.gather(
        *(store.record_checkpoint(workflow_id="wf", metrics={"score": i}) for i in range(4))
    )
    assert sorted(c.config_version for c in results) == [1, 2, 3, 4]
    with pytest.raises(DuplicateError):
        await store.record_checkpoint(workflow_id="wf", config_version=2)
    exact = Decimal("0.1000000000000000000001")
    best = await store.record_checkpoint(
        workflow_id="wf", metrics={"score": exact, "tags": ["a", "b"]}, is_best=True
    )
    assert best.config_version == 5
    other = await store.mark_best(results[0].id)
    assert other.is_best
    listed = await store.list_checkpoints("wf")
    assert [c.config_version for c in listed] == [5, 4, 3, 2, 1]
    assert [c.id for c in listed if c.is_best] == [other.id]
    latest = await store.latest_checkpoint("wf")
    assert latest is not None
    assert latest.id == best.id
    assert (await store.best_checkpoint("wf")) == await store.get_checkpoint(other.id)
    matched = await store.list_checkpoints("wf", metrics_contains={"tags": ["b"]})
    assert [c.id for c in matched] == [best.id]
    assert matched[0].metrics["score"] == exact
    assert await store.best_checkpoint("nothing") is None
    with pytest.raises(CheckpointNotFoundError):
        await store.get_checkpoint(uuid.uuid4())
    with pytest.raises(ValidationError):
        await store.record_checkpoint(workflow_id="")


# --- vault -------------------------------------------------------------------------------------


async def test_vault_through_facade(storage: Storage) -> None:
    vault = storage.vault
    cred = await vault.create_credential(
        name="GitHub", provider="github", secret="s3cret", actor="a", access={"roles": ["admin"]}
    )
    with pytest.raises(DuplicateError):
        await vault.create_credential(name="github", provider="github", secret="x", actor="a")
    assert (await vault.reveal_secret(cred.id)).get_secret_value() == "s3cret"
    stored = await vault.records.get_credential(cred.id)
    assert "s3cret" not in stored.model_dump_json()
    assert await vault.list_credentials(AccessContext(roles=["viewer"])) == []
    with pytest.raises(CredentialNotFoundError):
        await vault.get_credential(cred.id, AccessContext(roles=["viewer"]))
    with pytest.raises(SecretUnchangedError):
        await vault.rotate_secret(cred.id, "s3cret", actor="a")
    await vault.rotate_secret(cred.id, "new", actor="a")
    assert (await vault.reveal_secret(cred.id)).get_secret_value() == "new"

    first = await vault.record_alert(kind="expiring", message="soon", credential_id=cred.id)
    again = await vault.record_alert(kind="expiring", message="sooner", credential_id=cred.id)
    assert again.id == first.id
    assert again.message == "sooner"
    assert again.created_at == first.created_at
    acked = await vault.acknowledge_alert(first.id, actor="ops")
    assert (await vault.acknowledge_alert(first.id, actor="ops")) == acked
    assert await vault.list_alerts() == []
    fresh = await vault.record_alert(kind="expiring", message="new", credential_id=cred.id)
    assert fresh.id != first.id
    assert len(await vault.list_alerts(include_acknowledged=True)) == 2

    template = await vault.create_template(name="T", provider="github", actor="a")
    await vault.record_alert(kind="policy", message="m", template_id=template.id)
    await vault.delete_template(template.id)
    await vault.delete_credential(cred.id)
    assert await vault.list_alerts(include_acknowledged=True) == []
    with pytest.raises(CredentialNotFoundError):
        await vault.delete_credential(cred.id)
