"""Contract: the hostile arguments issue 13 found escaping as raw errors, one example each.

Each is refused with ``ValidationError`` on every backend, and writes nothing
(``test_hostile_calls`` covers every method; these name the cases that were found).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from orcheo_storage.errors import ValidationError
from orcheo_storage.models.chat import ChatContext
from orcheo_storage.protocols.backend import BackendManifest, Capability
from orcheo_storage.rules.workflows import WorkflowChanges
from orcheo_storage.storage import Storage

from orcheo_storage_contract_tests.hostile import seed, snapshot

Call = Callable[[Storage, dict[str, Any]], Awaitable[Any]]
INF = float("inf")

# (surface to seed, the call) per defect; ``ids`` are the seeded entities.
CASES: dict[str, tuple[str, Call]] = {
    # integers of 2**63 and more (OverflowError on SQLite)
    "version number 2**63": ("workflows", lambda s, i: s.workflows.get_version_by_number(
        i["workflow_id"], 2**63)),
    "diff target 2**63": ("workflows", lambda s, i: s.workflows.diff_versions(
        i["workflow_id"], 1, 2**63)),
    "list_steps after 2**63": ("history", lambda s, i: s.history.list_steps(
        "exec-seed", after_index=2**63)),
    "claim_next max_attempts 2**63": ("remediations", lambda s, i: s.remediations.claim_next(
        worker_id="w", max_attempts=2**63)),
    "checkpoint config_version 2**63": ("agentensor", lambda s, i: s.agentensor.record_checkpoint(
        workflow_id="wf-seed", config_version=2**63)),
    # non-finite and huge durations (OverflowError in timedelta)
    "lease inf": ("listeners", lambda s, i: s.listeners.claim_subscription(
        i["subscription_id"], runtime_id="r", lease_seconds=INF)),
    "lease 1e308": ("listeners", lambda s, i: s.listeners.claim_subscription(
        i["subscription_id"], runtime_id="r", lease_seconds=1e308)),
    "dedupe window inf": ("listeners", lambda s, i: s.listeners.record_dedupe(
        i["subscription_id"], "k", window_seconds=INF)),
    "dispatch window 1e308": ("listeners", lambda s, i: s.listeners.dispatch_event(
        i["subscription_id"], "k", window_seconds=1e308, workflow_version_id=i["version_id"],
        triggered_by="t")),
    # one rule for non-finite numbers (stored on SQLite, rejected on PostgreSQL)
    "retry max_delay inf": ("triggers", lambda s, i: s.triggers.set_retry_policy(
        i["workflow_id"], {"max_delay_seconds": INF})),
    "claim_next max_attempts nan": ("remediations", lambda s, i: s.remediations.claim_next(
        worker_id="w", max_attempts=float("nan"))),  # type: ignore[arg-type]
    # NUL in an actor (pydantic's raw error)
    "publish actor NUL": ("workflows", lambda s, i: s.workflows.publish_workflow(
        i["workflow_id"], actor="a\x00")),
    # surrogates in webhook secrets (UnicodeEncodeError while encrypting)
    "webhook shared secret surrogate": ("triggers", lambda s, i: s.triggers.set_webhook_config(
        i["workflow_id"], {"shared_secret": "\ud800"})),
    "webhook hmac secret surrogate": ("triggers", lambda s, i: s.triggers.set_webhook_config(
        i["workflow_id"], {"hmac_secret": "x\udfff"})),
    # bad enum names (ValueError from the enum)
    "update_workflow draft_access": ("workflows", lambda s, i: s.workflows.update_workflow(
        i["workflow_id"], WorkflowChanges(draft_access="everyone"), actor="t")),
    "mark_health status": ("vault", lambda s, i: s.vault.mark_health(
        i["credential_id"], "fine", actor="t")),
    # OAuth expires_at that is not a date
    "oauth expires_at text": ("vault", lambda s, i: s.vault.create_credential(
        name="o", provider="p", secret="s", actor="t", oauth_tokens={"expires_at": "soon"})),
    "oauth expires_at overflow": ("vault", lambda s, i: s.vault.update_oauth_tokens(
        i["credential_id"], {"expires_at": "9999-12-31T23:00:00-05:00"}, actor="t")),
    "oauth expires_at number": ("vault", lambda s, i: s.vault.update_oauth_tokens(
        i["credential_id"], {"expires_at": 1700000000}, actor="t")),
    # Decimal NaN and bytes in a containment filter (raw errors on PostgreSQL)
    "metadata_contains NaN": ("agentensor", lambda s, i: s.agentensor.list_checkpoints(
        "wf-seed", metadata_contains={"x": Decimal("NaN")})),
    "metrics_contains bytes": ("agentensor", lambda s, i: s.agentensor.list_checkpoints(
        "wf-seed", metrics_contains={"x": b"raw"})),
    # lone surrogates in key arguments (UnicodeEncodeError on SQLite)
    "token id surrogate": ("service_tokens", lambda s, i: s.service_tokens.get_by_id("\ud800")),
    "token revoke surrogate": ("service_tokens", lambda s, i: s.service_tokens.revoke(
        "tok-seed", reason="\udfff")),
    "history id surrogate": ("history", lambda s, i: s.history.get_history("\ud800")),
    "history step surrogate": ("history", lambda s, i: s.history.append_step(
        "\ud800", {"a": 1})),
    "agentensor workflow surrogate": ("agentensor", lambda s, i: s.agentensor.latest_checkpoint(
        "\ud800")),
    "chat thread surrogate": ("chatkit", lambda s, i: s.chatkit.load_thread(
        "\ud800", ChatContext())),
    "remediation worker surrogate": ("remediations", lambda s, i: s.remediations.claim_next(
        worker_id="\ud800")),
    "vault name surrogate": ("vault", lambda s, i: s.vault.create_credential(
        name="\ud800", provider="p", secret="s", actor="t")),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.asyncio
async def test_hostile_argument_is_a_validation_error(storage: Storage, case: str) -> None:
    surface, make_call = CASES[case]
    seeded = await seed(storage, surface)
    before = await snapshot(storage)
    with pytest.raises(ValidationError):
        await make_call(storage, seeded.ids)
    assert await snapshot(storage) == before


@pytest.mark.parametrize("document", [{"x": Decimal("NaN")}, {"x": b"raw"}, {"x": INF}])
@pytest.mark.asyncio
async def test_chat_metadata_filter_rejects_hostile_documents(
    storage: Storage, backend_manifest: BackendManifest, document: dict[str, Any]
) -> None:
    if Capability.JSON_CONTAINMENT not in backend_manifest.capabilities:
        pytest.skip("backend does not declare capability json_containment")
    with pytest.raises(ValidationError):
        await storage.chatkit.filter_threads(document, ChatContext())
