"""Remediation state machine, listener leases and status, trigger normalisation and cron CAS."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from orcheo_storage.crypto import VaultCipher
from orcheo_storage.errors import DecryptionError, InvalidTransitionError, ValidationError
from orcheo_storage.models.listeners import (
    ListenerStatus,
    ListenerSubscription,
    ListenerSubscriptionSpec,
)
from orcheo_storage.models.remediations import RemediationCandidate, RemediationStatus
from orcheo_storage.models.triggers import CronConfig, RetryPolicy, WebhookConfig
from orcheo_storage.rules import listeners, remediations
from orcheo_storage.rules.triggers import (
    cron_slot_advances,
    normalise_cron,
    normalise_retry,
    normalise_webhook,
    open_webhook,
    seal_webhook,
)
from pydantic import SecretStr

NOW = datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
S = RemediationStatus


def candidate() -> RemediationCandidate:
    return remediations.new_candidate(
        workflow_id=uuid.uuid4(),
        workflow_version_id=uuid.uuid4(),
        run_id=uuid.uuid4(),
        fingerprint="fp",
        version_checksum="c" * 64,
        now=NOW,
        context={"error": "boom"},
    )


# --- remediations ---------------------------------------------------------------------------------


def test_remediation_transitions_table() -> None:
    allowed = {
        (a, b) for a, targets in remediations.REMEDIATION_TRANSITIONS.items() for b in targets
    }
    assert allowed == {
        (S.PENDING, S.CLAIMED), (S.PENDING, S.DISMISSED),
        (S.CLAIMED, S.FIXED), (S.CLAIMED, S.NOTE_ONLY), (S.CLAIMED, S.FAILED),
        (S.CLAIMED, S.DISMISSED), (S.CLAIMED, S.PENDING), (S.FAILED, S.PENDING),
    }  # fmt: skip
    assert {S.PENDING, S.CLAIMED} == remediations.OPEN_STATES


@pytest.mark.parametrize(("current", "target"), list(itertools.product(S, S)))
def test_remediation_transition(current: S, target: S) -> None:
    cand = candidate().model_copy(update={"status": current, "claimed_by": "w", "claimed_at": NOW})
    later = NOW + timedelta(minutes=1)
    if target in remediations.REMEDIATION_TRANSITIONS[current]:
        moved = remediations.transition(cand, target, now=later, developer_note="note")
        assert moved.status is target
        assert moved.developer_note == "note"
        assert moved.updated_at == later
        if target is S.PENDING:
            assert (moved.claimed_by, moved.claimed_at) == (None, None)
    else:
        with pytest.raises(InvalidTransitionError):
            remediations.transition(cand, target, now=later)


def test_claim_counts_attempts_and_respects_the_cap() -> None:
    cand = candidate()
    assert remediations.can_claim(cand, None)
    assert remediations.can_claim(cand, 1)
    claimed = remediations.claim(cand, "worker-1", NOW)
    assert (claimed.status, claimed.claimed_by, claimed.attempt_count) == (S.CLAIMED, "worker-1", 1)
    assert not remediations.can_claim(claimed, None)  # not pending
    back = remediations.transition(claimed, S.PENDING, now=NOW)
    assert not remediations.can_claim(back, 1)  # cap reached
    assert remediations.can_claim(back, 2)
    with pytest.raises(InvalidTransitionError):
        remediations.claim(claimed, "worker-2", NOW)


def test_transition_rejects_hostile_outcome() -> None:
    claimed = remediations.claim(candidate(), "w", NOW)
    with pytest.raises(ValidationError):
        remediations.transition(claimed, S.FIXED, now=NOW, artifacts={"x": float("inf")})


# --- listeners --------------------------------------------------------------------------------------


def subscription() -> ListenerSubscription:
    spec = ListenerSubscriptionSpec(node_name="n", platform="slack", bot_identity_key="bot")
    return listeners.new_subscription(
        spec, workflow_id=uuid.uuid4(), version_id=uuid.uuid4(), now=NOW
    )


def test_lease_claim_renew_and_expiry() -> None:
    sub = subscription()
    lease = listeners.check_lease_seconds(30)
    assert listeners.can_claim(sub, "a", NOW)
    held = listeners.claim(sub, "a", lease, NOW)
    assert (held.assigned_runtime, held.lease_expires_at) == ("a", NOW + lease)
    assert held.audit_log[-1].action == "subscription_claimed"
    assert not listeners.can_claim(held, "b", NOW + timedelta(seconds=29))
    assert listeners.can_claim(held, "b", NOW + timedelta(seconds=30))  # expired at the instant
    renewed = listeners.claim(held, "a", lease, NOW + timedelta(seconds=10))
    assert renewed.lease_expires_at == NOW + timedelta(seconds=40)
    assert len(renewed.audit_log) == len(held.audit_log)  # renewal is not audited


def test_only_active_subscriptions_can_be_claimed() -> None:
    for status in ListenerStatus:
        sub = listeners.set_status(subscription(), status, actor="ops", now=NOW)
        assert listeners.can_claim(sub, "a", NOW) is (status is ListenerStatus.ACTIVE)


def test_release_by_holder_only() -> None:
    held = listeners.claim(subscription(), "a", timedelta(seconds=5), NOW)
    assert listeners.release(held, "b", NOW) is None
    released = listeners.release(held, "a", NOW)
    assert released is not None
    assert (released.assigned_runtime, released.lease_expires_at) == (None, None)


def test_status_change_always_clears_the_lease_and_is_audited() -> None:
    held = listeners.claim(subscription(), "a", timedelta(seconds=5), NOW)
    paused = listeners.set_status(held, "paused", actor="ops", now=NOW, last_error="why")
    assert paused.status is ListenerStatus.PAUSED
    assert (paused.assigned_runtime, paused.lease_expires_at, paused.last_error) == (
        None,
        None,
        "why",
    )
    assert paused.audit_log[-1].metadata == {"from": "active", "to": "paused"}
    disabled = listeners.disable(held, reason="new version", now=NOW)
    assert disabled.status is ListenerStatus.DISABLED
    assert disabled.assigned_runtime is None
    with pytest.raises(ValueError):
        listeners.set_status(held, "sleeping", actor="ops", now=NOW)


@pytest.mark.parametrize("bad", [0, -1, float("nan")])
def test_lease_and_window_must_be_positive(bad: float) -> None:
    with pytest.raises(ValidationError):
        listeners.check_lease_seconds(bad)
    with pytest.raises(ValidationError):
        listeners.dedupe_expiry(NOW, bad)
    assert listeners.dedupe_expiry(NOW, 60) == NOW + timedelta(minutes=1)


# --- triggers ---------------------------------------------------------------------------------------


def test_webhook_normalisation() -> None:
    config = normalise_webhook(
        {
            "allowed_methods": ["post", " get ", "POST", ""],
            "required_headers": {" X-Token ": "v"},
            "shared_secret_header": " X-Secret ",
        }
    )
    assert config.allowed_methods == ["GET", "POST"]
    assert config.required_headers == {"x-token": "v"}
    assert config.shared_secret_header == "x-secret"
    assert normalise_webhook({"allowed_methods": []}).allowed_methods == ["POST"]
    assert normalise_webhook(WebhookConfig()) == WebhookConfig()


def test_webhook_secrets_are_sealed_not_stored_in_clear() -> None:
    cipher = VaultCipher.from_passphrase("k")
    config = normalise_webhook({"shared_secret": "s3cret-1", "hmac_secret": "s3cret-2"})
    workflow_id = uuid.uuid4()
    sealed = seal_webhook(config, cipher, workflow_id)
    assert "s3cret" not in str(sealed)
    envelope = sealed["shared_secret"]
    assert isinstance(envelope, dict)
    assert envelope["key_id"] == "primary"
    opened = open_webhook(sealed, cipher, workflow_id).config
    assert opened.shared_secret == SecretStr("s3cret-1")
    assert opened.hmac_secret is not None
    assert opened.hmac_secret.get_secret_value() == "s3cret-2"
    with pytest.raises(DecryptionError):
        open_webhook(sealed, VaultCipher.from_passphrase("other"), workflow_id)
    assert seal_webhook(WebhookConfig(), cipher, workflow_id)["shared_secret"] is None


def test_cron_and_retry_normalisation() -> None:
    assert normalise_cron({"expression": "  */5   *  * * * "}).expression == "*/5 * * * *"
    assert normalise_cron(CronConfig(expression="0 0 * * *")).timezone == "UTC"
    with pytest.raises(ValidationError):
        normalise_cron({"expression": "   "})
    assert normalise_retry({"max_attempts": 5}) == RetryPolicy(max_attempts=5)
    with pytest.raises(ValidationError):
        normalise_retry({"max_attempts": 0})


def test_cron_compare_and_set_rule() -> None:
    t1, t2 = NOW, NOW + timedelta(minutes=5)
    assert cron_slot_advances(None, None, t1)
    assert not cron_slot_advances(t1, None, t2)  # someone else moved it
    assert cron_slot_advances(t1, t1, t2)
    assert not cron_slot_advances(t2, t2, t1)  # never backwards
    assert not cron_slot_advances(t2, t2, t2)
