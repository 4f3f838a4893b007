"""Contract: the exact error a caller sees, and the default limits of list methods.

The state machines check error types; these examples check the message too (the entity,
the key, the field a validation error names), and that each list method's default limit is
the one its protocol states. Found by mutation testing (``MUTATION.md``): a backend could
say "already exists: None" or return 51 rows by default and still pass the machines.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from orcheo_storage.clock import ManualClock, use_clock
from orcheo_storage.errors import (
    AlertNotFoundError,
    CheckpointNotFoundError,
    CredentialNotFoundError,
    DuplicateError,
    TemplateNotFoundError,
    TokenNotFoundError,
    ValidationError,
)
from orcheo_storage.models.common import build
from orcheo_storage.models.tokens import ServiceToken, TokenAuditEvent
from orcheo_storage.rules.tokens import hash_secret
from orcheo_storage.rules.workflows import WorkflowChanges
from orcheo_storage.storage import Storage

from orcheo_storage_contract_tests._support import make_version, raises
from orcheo_storage_contract_tests.chat_objects import (
    CHAT_CONTEXT,
    chat_thread,
    file_attachment,
    user_message,
)

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _token(identifier: str, secret: str) -> ServiceToken:
    return build(ServiceToken, identifier=identifier, secret_hash=hash_secret(secret), issued_at=T0)


@pytest.mark.orcheo_subsystem("service_tokens")
async def test_token_errors_name_the_key_and_never_a_hash(storage: Storage) -> None:
    tokens = storage.service_tokens
    await tokens.create(_token("tok-1", "s1"))
    await tokens.create(_token("tok-2", "s2"))
    with raises(DuplicateError, "service token already exists: tok-1"):
        await tokens.create(_token("tok-1", "s3"))
    with raises(DuplicateError, "service token secret hash already exists: <redacted>"):
        await tokens.create(_token("tok-3", "s1"))
    with raises(DuplicateError, "service token secret hash already exists: <redacted>"):
        await tokens.update(_token("tok-2", "s1"))
    with raises(TokenNotFoundError, "service token not found: nobody"):
        await tokens.get_by_id("nobody")


@pytest.mark.orcheo_subsystem("service_tokens")
async def test_a_changed_hash_frees_the_old_one(storage: Storage) -> None:
    tokens = storage.service_tokens
    await tokens.create(_token("tok-1", "old"))
    await tokens.update(_token("tok-1", "new"))
    assert await tokens.get_by_hash(hash_secret("old")) is None
    assert (await tokens.get_by_hash(hash_secret("new"))) is not None
    await tokens.create(_token("tok-2", "old"))  # the old hash is free again
    assert (await tokens.get_by_hash(hash_secret("old"))).identifier == "tok-2"  # type: ignore[union-attr]


@pytest.mark.orcheo_subsystem("service_tokens")
async def test_revoking_twice_returns_the_revoked_token_and_audits_once(storage: Storage) -> None:
    tokens = storage.service_tokens
    await tokens.create(_token("tok-1", "s1"))
    first = await tokens.revoke("tok-1", reason="leaked", actor="admin")
    second = await tokens.revoke("tok-1", reason="again", actor="admin")
    assert second == first
    assert second.revocation_reason == "leaked"
    assert [e.action for e in await tokens.list_audit_events(token_id="tok-1")] == ["revoked"]


@pytest.mark.orcheo_subsystem("service_tokens")
async def test_audit_events_default_limit_is_100(storage: Storage) -> None:
    tokens = storage.service_tokens
    for n in range(101):
        event = {"token_id": "tok", "action": f"a{n}", "timestamp": T0}
        await tokens.record_audit_event(build(TokenAuditEvent, **event))
    assert len(await tokens.list_audit_events()) == 100


@pytest.mark.orcheo_subsystem("agentensor")
async def test_checkpoint_errors_and_default_limit(storage: Storage) -> None:
    store = storage.agentensor
    await store.record_checkpoint(workflow_id="wf", config_version=1)
    with raises(DuplicateError, "agentensor checkpoint already exists: wf v1"):
        await store.record_checkpoint(workflow_id="wf", config_version=1)
    missing = uuid.UUID(int=7)
    with raises(CheckpointNotFoundError, f"agentensor checkpoint not found: {missing}"):
        await store.mark_best(missing)
    for _ in range(50):
        await store.record_checkpoint(workflow_id="wf")
    assert len(await store.list_checkpoints("wf")) == 50


@pytest.mark.orcheo_subsystem("remediations")
async def test_remediation_errors_name_the_field_and_default_limit(storage: Storage) -> None:
    store = storage.remediations
    allowed = "claimed, dismissed, failed, fixed, note_only, pending"
    with raises(ValidationError, f"status: must be one of: {allowed}"):
        await store.list_candidates(status="done")
    version = await make_version(storage)
    run = await storage.workflows.create_run(
        version.workflow_id, workflow_version_id=version.id, triggered_by="t"
    )
    ids = []
    for n in range(101):
        candidate = await store.create_candidate(
            workflow_id=version.workflow_id,
            workflow_version_id=version.id,
            run_id=run.id,
            fingerprint=f"fp-{n}",
            version_checksum=version.checksum,
        )
        ids.append(candidate.id)
    assert len(await store.list_candidates()) == 100
    claimed = await store.claim_next(worker_id="w")
    assert claimed is not None
    done = await store.transition_candidate(
        claimed.id, "fixed", validation_result={"ok": True, "score": 2.0}
    )
    assert done.validation_result == {"ok": True, "score": 2.0}
    assert (await store.get_candidate(claimed.id)).validation_result == {"ok": True, "score": 2.0}


@pytest.mark.orcheo_subsystem("vault")
async def test_vault_record_errors_name_the_entity_and_key(storage: Storage) -> None:
    """Every not-found error of the record store carries the id it was given (DOMAIN.md
    section 0: "not found, one per entity, carrying the id"); a duplicate names the key
    that collided: the id, or the name (PostgreSQL calls the entity "credential" there,
    the others "credential name")."""
    vault = storage.vault
    records = vault.records
    cred = await vault.create_credential(name="GitHub", provider="gh", secret="1", actor="x")
    record = await records.get_credential(cred.id)
    renamed = record.credential.model_copy(update={"name": "Other"})
    with raises(DuplicateError, f"credential already exists: {cred.id}"):
        await records.insert_credential(record.model_copy(update={"credential": renamed}))
    with pytest.raises(DuplicateError, match=r"^credential( name)? already exists: GiTHub$"):
        await vault.create_credential(name="GiTHub", provider="gh", secret="2", actor="x")
    other = await vault.create_credential(name="two", provider="p", secret="2", actor="x")
    taken = (await records.get_credential(other.id)).credential.model_copy(
        update={"name": "GITHUB"}
    )
    with pytest.raises(DuplicateError, match=r"^credential( name)? already exists: GITHUB$"):
        await records.replace_credential(record.model_copy(update={"credential": taken}))
    missing = uuid.UUID(int=11)
    ghost = record.model_copy(update={"credential": renamed.model_copy(update={"id": missing})})
    for call in (
        records.replace_credential(ghost),
        records.get_credential(missing),
        records.delete_credential(missing),
    ):
        with raises(CredentialNotFoundError, f"credential not found: {missing}") as info:
            await call
        assert info.value.key == missing
    template = await vault.create_template(name="t", provider="p", actor="x")
    with raises(DuplicateError, f"credential template already exists: {template.id}"):
        await records.insert_template(template.model_copy(update={"name": "u"}))
    for template_call in (
        records.replace_template(template.model_copy(update={"id": missing})),
        records.get_template(missing),
        records.delete_template(missing),
    ):
        with raises(TemplateNotFoundError, f"credential template not found: {missing}") as info:
            await template_call
        assert info.value.key == missing
    alert = await vault.record_alert(kind="k", message="m")
    for alert_call in (
        records.replace_alert(alert.model_copy(update={"id": missing})),
        records.get_alert(missing),
    ):
        with raises(AlertNotFoundError, f"governance alert not found: {missing}") as info:
            await alert_call
        assert info.value.key == missing
    # nothing above wrote anything
    assert [c.name for c in await vault.list_credentials()] == ["GitHub", "two"]
    assert await vault.list_templates() == [template]
    assert await vault.list_alerts() == [alert]
    # the record store's own default leaves acknowledged alerts out, as the vault's does
    acked = await vault.acknowledge_alert(
        (await vault.record_alert(kind="other", message="m")).id, actor="x"
    )
    assert await records.list_alerts() == [alert]
    assert await records.list_alerts(include_acknowledged=True) == [acked, alert]


@pytest.mark.orcheo_subsystem("workflows")
async def test_workflow_defaults_and_archived_ref_tie_break(storage: Storage) -> None:
    """``publish_workflow`` defaults to ``require_login=False``; ``list_runs`` returns 50 runs
    by default; among archived holders of a handle the latest updated wins, equal
    ``updated_at`` broken by the greater id (the reference model's order, both ways)."""
    repo = storage.workflows
    clock = ManualClock(datetime(2031, 2, 3, 4, 5, 6, 789012, tzinfo=UTC))
    with use_clock(clock):
        # ``low`` is created first and ``high`` (greater id) later, so a backend that breaks
        # the tie by storage or insertion order instead of by id is caught.
        low = await repo.create_workflow(name="A", handle="flow", actor="t")
        high = await repo.create_workflow(name="B", actor="t")
        while str(high.id) < str(low.id):
            high = await repo.create_workflow(name="B", actor="t")
        await repo.archive_workflow(low.id, actor="t")
        await repo.update_workflow(high.id, WorkflowChanges(handle="flow"), actor="t")
        await repo.archive_workflow(high.id, actor="t")
        assert (await repo.get_workflow(low.id)).updated_at == clock.now()
        assert (await repo.get_workflow(high.id)).updated_at == clock.now()
        assert await repo.resolve_workflow_ref("flow", include_archived=True) == high.id
        clock.advance(timedelta(microseconds=1))
        await repo.update_workflow(low.id, WorkflowChanges(description="newer"), actor="t")
        assert await repo.resolve_workflow_ref("flow", include_archived=True) == low.id
    fresh = await repo.create_workflow(name="C", actor="t")
    published = await repo.publish_workflow(fresh.id, actor="pub")
    assert published.publication.require_login is False
    version = await make_version(storage)
    for _ in range(51):
        await repo.create_run(version.workflow_id, workflow_version_id=version.id, triggered_by="t")
    page = await repo.list_runs(version.workflow_id)
    assert len(page.items) == 50
    assert page.next_cursor is not None


@pytest.mark.orcheo_subsystem("workflows")
async def test_a_hostile_version_is_refused_before_its_workflow_is_looked_up(
    storage: Storage,
) -> None:
    """Hostile JSON is refused by core before a backend sees it (DOMAIN.md section 0): a
    version of a missing workflow with a hostile graph, metadata or runnable_config is a
    validation error naming the document, not a workflow-not-found error."""
    missing = uuid.UUID(int=12)
    bad = {"x": float("nan")}
    good: dict[str, object] = {"nodes": []}
    cases = (
        ("graph", {"graph": bad}),
        ("metadata", {"graph": good, "metadata": bad}),
        ("runnable_config", {"graph": good, "runnable_config": bad}),
    )
    for field, arguments in cases:
        with pytest.raises(ValidationError, match=f"^{field}"):
            await storage.workflows.create_version(missing, created_by="t", **arguments)


@pytest.mark.orcheo_subsystem("chatkit")
async def test_chat_item_errors_and_saving_a_new_item(storage: Storage) -> None:
    """``save_item`` of a new item adds it (next ordinal, thread touched); of an item that
    belongs to another thread it is a duplicate naming the item; an item whose thread_id
    is not the thread it is added to is a validation error naming both threads."""
    chat = storage.chatkit
    await chat.save_thread(chat_thread("thr-a"), CHAT_CONTEXT)
    await chat.save_thread(chat_thread("thr-b"), CHAT_CONTEXT)
    await chat.add_thread_item("thr-a", user_message("it-1", "thr-a", "first"), CHAT_CONTEXT)
    fresh = user_message("it-2", "thr-a", "second")
    await chat.save_item("thr-a", fresh, CHAT_CONTEXT)
    assert await chat.load_item("thr-a", "it-2", CHAT_CONTEXT) == fresh
    page = await chat.load_thread_items("thr-a", None, 10, "asc", CHAT_CONTEXT)
    assert [i.id for i in page.data] == ["it-1", "it-2"]
    with raises(DuplicateError, "chat item already exists: it-1"):
        await chat.save_item("thr-b", user_message("it-1", "thr-b", "moved"), CHAT_CONTEXT)
    message = "thread_id: item belongs to thread 'thr-a', not 'thr-b'"
    with raises(ValidationError, message):
        await chat.add_thread_item("thr-b", user_message("it-3", "thr-a", "x"), CHAT_CONTEXT)
    with raises(ValidationError, message):
        await chat.save_item("thr-b", user_message("it-3", "thr-a", "x"), CHAT_CONTEXT)
    assert (await chat.load_thread_items("thr-b", None, 10, "asc", CHAT_CONTEXT)).data == []


@pytest.mark.orcheo_subsystem("chatkit")
async def test_deleting_a_thread_unlinks_only_its_attachments_and_loads_copies(
    storage: Storage,
) -> None:
    """Attachments of other threads are left alone, every attachment of the deleted thread
    is unlinked (whatever order they were saved in), and an unlinked attachment read back
    is a copy: mutating it changes nothing stored."""
    chat = storage.chatkit
    for thread_id in ("thr-a", "thr-b"):
        await chat.save_thread(chat_thread(thread_id), CHAT_CONTEXT)
    await chat.save_attachment(file_attachment("att-a1", thread_id="thr-a"), CHAT_CONTEXT)
    await chat.save_attachment(file_attachment("att-b", thread_id="thr-b"), CHAT_CONTEXT)
    await chat.save_attachment(file_attachment("att-a2", thread_id="thr-a"), CHAT_CONTEXT)
    await chat.delete_thread("thr-a", CHAT_CONTEXT)
    for attachment_id in ("att-a1", "att-a2"):
        loaded = await chat.load_attachment(attachment_id, CHAT_CONTEXT)
        assert loaded.thread_id is None
        assert loaded.metadata is not None
        loaded.metadata["origin"] = "mutated"
        again = await chat.load_attachment(attachment_id, CHAT_CONTEXT)
        assert again.metadata == {"origin": "upload"}
    assert (await chat.load_attachment("att-b", CHAT_CONTEXT)).thread_id == "thr-b"


@pytest.mark.orcheo_capability("full_text_search")
@pytest.mark.orcheo_subsystem("chatkit")
async def test_search_items_default_limit_and_blank_query(storage: Storage) -> None:
    chat = storage.chatkit
    await chat.save_thread(chat_thread("thr-s"), CHAT_CONTEXT)
    for n in range(21):
        item = user_message(f"it-{n:02}", "thr-s", f"invoice number {n}")
        await chat.add_thread_item("thr-s", item, CHAT_CONTEXT)
    assert len(await chat.search_items("thr-s", "invoice", CHAT_CONTEXT)) == 20
    with raises(ValidationError, "query: search query must not be blank"):
        await chat.search_items("thr-s", "   ", CHAT_CONTEXT)


@pytest.mark.orcheo_capability("json_containment")
@pytest.mark.orcheo_subsystem("chatkit")
async def test_filter_threads_default_limit(storage: Storage) -> None:
    chat = storage.chatkit
    for n in range(51):
        await chat.save_thread(chat_thread(f"thr-{n:02}", metadata={"team": "red"}), CHAT_CONTEXT)
    assert len(await chat.filter_threads({"team": "red"}, CHAT_CONTEXT)) == 50


@pytest.mark.orcheo_subsystem("workflows")
async def test_draft_access_given_at_creation_is_stored(storage: Storage) -> None:
    """DOMAIN.md section 1: draft_access is personal by default, or what the caller gives."""
    repo = storage.workflows
    for access in ("personal", "authenticated", "workspace"):
        created = await repo.create_workflow(name=access, draft_access=access, actor="t")
        assert created.draft_access == access
        assert (await repo.get_workflow(created.id)).draft_access == access
    assert (await repo.create_workflow(name="default", actor="t")).draft_access == "personal"
    run_version = await make_version(storage)
    run = await repo.create_run(
        run_version.workflow_id, workflow_version_id=run_version.id, triggered_by="t"
    )
    with pytest.raises(ValidationError, match=r"^target: must be one of"):
        await repo.transition_run(run.id, "finished", actor="t")  # type: ignore[arg-type]
