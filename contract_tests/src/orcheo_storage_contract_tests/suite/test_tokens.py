"""Contract: service tokens (DOMAIN.md section 4) - hashed secrets, lookups, usage and audit."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, note
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule
from orcheo_storage.clock import utcnow
from orcheo_storage.errors import DuplicateError, TokenNotFoundError, ValidationError
from orcheo_storage.models.common import build
from orcheo_storage.models.tokens import ServiceToken, TokenAuditEvent
from orcheo_storage.rules.tokens import hash_secret
from orcheo_storage.storage import Storage

from orcheo_storage_contract_tests._runner import (
    AsyncStateMachine,
    ProvisionStorage,
    run,
    run_machine,
)
from orcheo_storage_contract_tests._support import assert_utc
from orcheo_storage_contract_tests.strategies import (
    aware_datetimes,
    hostile_text,
    json_objects,
    safe_text,
)

BASE = datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def _token(identifier: str, **fields: Any) -> ServiceToken:
    data: dict[str, Any] = {
        "identifier": identifier,
        "secret_hash": hash_secret(f"secret-of-{identifier}"),
        "issued_at": BASE,
        "created_at": BASE - timedelta(microseconds=1),
    }
    data.update(fields)
    return build(ServiceToken, **data)


# --- create and lookups ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_created_at_is_stamped_unless_given(storage: Storage) -> None:
    before = datetime.now(UTC)
    stamped = await storage.service_tokens.create(_token("tok-new", created_at=None))
    assert stamped.created_at is not None
    assert_utc(stamped.created_at)
    assert stamped.created_at >= before - timedelta(seconds=1)
    assert await storage.service_tokens.get_by_id("tok-new") == stamped
    kept = await storage.service_tokens.create(
        _token(
            "tok-old",
            created_by="ops",
            rotated_from="tok-older",
            revoked_by=None,
            allowed_ip_ranges=["10.0.0.0/8"],
            rate_limit_override=120,
        )
    )
    assert kept.created_at == BASE - timedelta(microseconds=1)
    assert await storage.service_tokens.get_by_id("tok-old") == kept


@pytest.mark.asyncio
async def test_create_and_lookups_round_trip(storage: Storage) -> None:
    token = _token(
        "tok-1",
        scopes=["workflows:read", "runs:write"],
        workspace_ids=["ws-1"],
        expires_at=BASE + timedelta(days=30, microseconds=7),
        rotation_expires_at=BASE + timedelta(days=1),
        rotated_to="tok-2",
    )
    created = await storage.service_tokens.create(token)
    assert created == token
    assert await storage.service_tokens.get_by_id("tok-1") == token
    assert await storage.service_tokens.get_by_hash(token.secret_hash) == token
    got = await storage.service_tokens.get_by_id("tok-1")
    assert_utc(got.issued_at)
    assert got.expires_at == BASE + timedelta(days=30, microseconds=7)
    assert await storage.service_tokens.get_by_hash(hash_secret("other")) is None


@pytest.mark.asyncio
async def test_duplicate_identifier_or_hash_is_a_conflict(storage: Storage) -> None:
    first = _token("tok-dup", scopes=["a"])
    await storage.service_tokens.create(first)
    with pytest.raises(DuplicateError, match="already exists") as info:
        await storage.service_tokens.create(_token("tok-dup", secret_hash=hash_secret("new")))
    assert "tok-dup" in str(info.value)
    with pytest.raises(DuplicateError, match="already exists"):
        await storage.service_tokens.create(_token("tok-other", secret_hash=first.secret_hash))
    assert await storage.service_tokens.list_all() == [first]


@pytest.mark.asyncio
async def test_missing_token_errors(storage: Storage) -> None:
    with pytest.raises(TokenNotFoundError, match="service token not found: ghost") as info:
        await storage.service_tokens.get_by_id("ghost")
    assert info.value.key == "ghost"
    with pytest.raises(TokenNotFoundError, match="service token not found: ghost"):
        await storage.service_tokens.update(_token("ghost"))
    with pytest.raises(TokenNotFoundError, match="service token not found: ghost"):
        await storage.service_tokens.revoke("ghost", reason="r")


@pytest.mark.asyncio
async def test_update_replaces_and_delete_is_idempotent(storage: Storage) -> None:
    token = await storage.service_tokens.create(_token("tok-u", scopes=["a"]))
    changed = token.model_copy(update={"scopes": ["b", "c"], "use_count": 3})
    assert await storage.service_tokens.update(changed) == changed
    assert await storage.service_tokens.get_by_id("tok-u") == changed
    await storage.service_tokens.delete("tok-u")
    await storage.service_tokens.delete("tok-u")
    await storage.service_tokens.delete("never-existed")
    assert await storage.service_tokens.get_by_hash(token.secret_hash) is None
    with pytest.raises(TokenNotFoundError):
        await storage.service_tokens.get_by_id("tok-u")


@pytest.mark.asyncio
async def test_list_all_orders_by_issued_at_then_identifier(storage: Storage) -> None:
    later = _token("a-later", issued_at=BASE + timedelta(microseconds=1))
    early_b = _token("b-early")
    early_a = _token("a-early")
    for token in (later, early_b, early_a):
        await storage.service_tokens.create(token)
    assert [t.identifier for t in await storage.service_tokens.list_all()] == [
        "a-early",
        "b-early",
        "a-later",
    ]


# --- activity, expiry and revocation --------------------------------------------------------------


@pytest.mark.asyncio
async def test_list_active_excludes_expired_and_revoked(storage: Storage) -> None:
    now = BASE + timedelta(days=10)
    tokens = {
        "forever": _token("forever"),
        "future": _token("future", expires_at=now + timedelta(microseconds=1)),
        "exactly-now": _token("exactly-now", expires_at=now),
        "past": _token("past", expires_at=now - timedelta(microseconds=1)),
        "revoked": _token("revoked", revoked_at=now - timedelta(days=1), revocation_reason="x"),
    }
    for token in tokens.values():
        await storage.service_tokens.create(token)
    active = await storage.service_tokens.list_active(now=now)
    assert sorted(t.identifier for t in active) == ["forever", "future"]


@pytest.mark.asyncio
async def test_list_active_defaults_to_the_current_time(storage: Storage) -> None:
    now = utcnow()
    await storage.service_tokens.create(_token("expired", expires_at=now - timedelta(seconds=2)))
    await storage.service_tokens.create(_token("valid", expires_at=now + timedelta(hours=1)))
    active = await storage.service_tokens.list_active()
    assert [t.identifier for t in active] == ["valid"]


@pytest.mark.asyncio
async def test_revocation_is_effective_immediately(storage: Storage) -> None:
    token = await storage.service_tokens.create(_token("tok-r"))
    before = utcnow()
    revoked = await storage.service_tokens.revoke("tok-r", reason="leaked", actor="admin")
    assert revoked.revoked_at is not None
    assert revoked.revoked_at >= before
    assert_utc(revoked.revoked_at)
    assert revoked.revocation_reason == "leaked"
    looked_up = await storage.service_tokens.get_by_hash(token.secret_hash)
    assert looked_up is not None
    assert looked_up.revoked_at == revoked.revoked_at
    assert not looked_up.is_active(utcnow())
    assert await storage.service_tokens.list_active() == []


@pytest.mark.asyncio
async def test_hostile_revocation_reason_changes_nothing(storage: Storage) -> None:
    token = await storage.service_tokens.create(_token("tok-h"))
    with pytest.raises(ValidationError, match="NUL characters are not allowed"):
        await storage.service_tokens.revoke("tok-h", reason="bad\x00reason")
    assert await storage.service_tokens.get_by_id("tok-h") == token


# --- usage and audit ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_record_usage_counts_and_audits(storage: Storage) -> None:
    await storage.service_tokens.create(_token("tok-use"))
    before = utcnow()
    for _ in range(3):
        await storage.service_tokens.record_usage("tok-use", ip="10.0.0.1", user_agent="cli/1")
    await storage.service_tokens.flush_usage()
    token = await storage.service_tokens.get_by_id("tok-use")
    assert token.use_count == 3
    assert token.last_used_at is not None
    assert token.last_used_at >= before
    assert_utc(token.last_used_at)
    events = await storage.service_tokens.list_audit_events(token_id="tok-use")
    used = [e for e in events if e.action == "used"]
    assert len(used) == 3
    assert all((e.ip, e.user_agent) == ("10.0.0.1", "cli/1") for e in used)


@pytest.mark.asyncio
async def test_concurrent_usage_is_not_lost(storage: Storage) -> None:
    await storage.service_tokens.create(_token("tok-busy"))
    await asyncio.gather(*(storage.service_tokens.record_usage("tok-busy") for _ in range(50)))
    await storage.service_tokens.flush_usage()
    assert (await storage.service_tokens.get_by_id("tok-busy")).use_count == 50


@pytest.mark.asyncio
async def test_hostile_usage_writes_nothing(storage: Storage) -> None:
    await storage.service_tokens.create(_token("tok-hu"))
    with pytest.raises(ValidationError):
        await storage.service_tokens.record_usage("tok-hu", user_agent="agent\ud800")
    await storage.service_tokens.flush_usage()
    assert (await storage.service_tokens.get_by_id("tok-hu")).use_count == 0
    assert await storage.service_tokens.list_audit_events(token_id="tok-hu") == []


@pytest.mark.asyncio
async def test_audit_log_newest_first_with_limit_and_filter(storage: Storage) -> None:
    events = [
        TokenAuditEvent(
            token_id="tok-a" if n % 2 == 0 else "tok-b",
            action=f"action-{n}",
            actor="admin",
            timestamp=BASE + timedelta(microseconds=n),
            details={"n": n, "big": 2**70 + n},
        )
        for n in range(6)
    ]
    for event in events:
        await storage.service_tokens.record_audit_event(event)
    newest = await storage.service_tokens.list_audit_events(limit=3)
    assert [e.action for e in newest] == ["action-5", "action-4", "action-3"]
    only_a = await storage.service_tokens.list_audit_events(token_id="tok-a")
    assert only_a == [events[4], events[2], events[0]]
    assert only_a[0].details == {"n": 4, "big": 2**70 + 4}


@pytest.mark.asyncio
async def test_returned_tokens_are_copies(storage: Storage) -> None:
    token = await storage.service_tokens.create(_token("tok-c", scopes=["a"]))
    token.scopes.append("admin")
    got = await storage.service_tokens.get_by_id("tok-c")
    got.workspace_ids.append("ws-stolen")
    listed = await storage.service_tokens.list_all()
    listed[0].scopes.append("root")
    again = await storage.service_tokens.get_by_id("tok-c")
    assert again.scopes == ["a"]
    assert again.workspace_ids == []


# --- properties -----------------------------------------------------------------------------------


@given(
    identifier=st.text(
        st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
        min_size=1,
        max_size=60,
    ),
    scopes=st.lists(safe_text, max_size=4),
    issued=aware_datetimes,
    expires=st.none() | aware_datetimes,
    details=json_objects,
)
def test_property_round_trip(
    provision_storage: ProvisionStorage,
    identifier: str,
    scopes: list[str],
    issued: datetime,
    expires: datetime | None,
    details: dict[str, Any],
) -> None:
    async def body() -> None:
        async with provision_storage() as storage:
            token = _token(identifier, scopes=scopes, issued_at=issued, expires_at=expires)
            await storage.service_tokens.create(token)
            got = await storage.service_tokens.get_by_id(identifier)
            assert got == token
            assert got.issued_at == issued
            assert_utc(got.issued_at)
            assert await storage.service_tokens.get_by_hash(token.secret_hash) == token
            event = TokenAuditEvent(
                token_id=identifier, action="created", timestamp=issued, details=details
            )
            await storage.service_tokens.record_audit_event(event)
            assert await storage.service_tokens.list_audit_events(token_id=identifier) == [event]

    run(body())


@given(bad=hostile_text())
def test_property_hostile_text_rejected_and_nothing_written(
    provision_storage: ProvisionStorage, bad: str
) -> None:
    async def body() -> None:
        async with provision_storage() as storage:
            token = await storage.service_tokens.create(_token("tok"))
            with pytest.raises(ValidationError):
                await storage.service_tokens.revoke("tok", reason=bad)
            with pytest.raises(ValidationError):
                await storage.service_tokens.record_usage("tok", ip=bad)
            await storage.service_tokens.flush_usage()
            assert await storage.service_tokens.get_by_id("tok") == token
            assert await storage.service_tokens.list_audit_events() == []

    run(body())


# --- state machine --------------------------------------------------------------------------------


@dataclasses.dataclass
class _TokenModel:
    issued_at: datetime
    expires_at: datetime | None
    revoked: bool = False
    uses: int = 0


NOW = BASE + timedelta(days=5)


class TokenMachine(AsyncStateMachine):
    """Create/revoke/delete/use/expire against a dict model of tokens."""

    def __init__(self, provision: ProvisionStorage) -> None:
        super().__init__(provision)
        self.model: dict[str, _TokenModel] = {}
        self.counter = 0

    def _pick(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from(list(self.model)))

    @rule(
        expiry=st.none() | st.integers(min_value=-3, max_value=3),
        issued_offset=st.integers(min_value=0, max_value=3),
    )
    def create(self, expiry: int | None, issued_offset: int) -> None:
        self.counter += 1
        identifier = f"t{self.counter}"
        issued = BASE + timedelta(microseconds=issued_offset)
        expires = None if expiry is None else NOW + timedelta(microseconds=expiry)
        self.call(
            self.storage.service_tokens.create(
                _token(identifier, issued_at=issued, expires_at=expires)
            )
        )
        self.model[identifier] = _TokenModel(issued, expires)

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def create_duplicate(self, data: st.DataObject) -> None:
        identifier = self._pick(data)
        with pytest.raises(DuplicateError):
            self.call(
                self.storage.service_tokens.create(
                    _token(identifier, secret_hash=hash_secret(f"fresh-{self.counter}"))
                )
            )

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def revoke(self, data: st.DataObject) -> None:
        identifier = self._pick(data)
        token = self.call(self.storage.service_tokens.revoke(identifier, reason="sm"))
        assert token.revoked_at is not None
        self.model[identifier].revoked = True

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def use(self, data: st.DataObject) -> None:
        identifier = self._pick(data)
        self.call(self.storage.service_tokens.record_usage(identifier))
        self.model[identifier].uses += 1

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data(), expiry=st.none() | st.integers(min_value=-2, max_value=2))
    def change_expiry(self, data: st.DataObject, expiry: int | None) -> None:
        identifier = self._pick(data)
        current = self.call(self.storage.service_tokens.get_by_id(identifier))
        expires = None if expiry is None else NOW + timedelta(microseconds=expiry)
        self.call(
            self.storage.service_tokens.update(current.model_copy(update={"expires_at": expires}))
        )
        self.model[identifier].expires_at = expires

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        identifier = self._pick(data)
        self.call(self.storage.service_tokens.delete(identifier))
        del self.model[identifier]

    @invariant()
    def listings_match_model(self) -> None:
        tokens = self.call(self.storage.service_tokens.list_all())
        expected = sorted(self.model, key=lambda i: (self.model[i].issued_at, i))
        assert [t.identifier for t in tokens] == expected
        active = self.call(self.storage.service_tokens.list_active(now=NOW))
        expected_active = {
            i
            for i, m in self.model.items()
            if not m.revoked and (m.expires_at is None or m.expires_at > NOW)
        }
        note(f"active: {sorted(t.identifier for t in active)}")
        assert {t.identifier for t in active} == expected_active
        assert len(active) == len(expected_active)

    @invariant()
    def lookups_and_counts_match_model(self) -> None:
        self.call(self.storage.service_tokens.flush_usage())
        for identifier, model in self.model.items():
            found = self.call(
                self.storage.service_tokens.get_by_hash(hash_secret(f"secret-of-{identifier}"))
            )
            assert found is not None
            assert found.identifier == identifier
            assert found.use_count == model.uses
            assert (found.revoked_at is not None) == model.revoked
            assert found.expires_at == model.expires_at


def test_token_state_machine(provision_storage: ProvisionStorage) -> None:
    run_machine(TokenMachine, provision_storage)
