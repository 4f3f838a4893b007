"""Contract: service tokens against the reference model, after every step.

Identifiers that share a 16-character prefix or differ in case; every hash looked up with
its near misses (prefixes, upper case, a changed last digit); expiry against a frozen
clock stepped across it; usage of unknown tokens refused; audit events recorded with
timestamps out of order and read per token with limits below the number of matches.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule
from orcheo_storage.errors import DuplicateError, TokenNotFoundError
from orcheo_storage.models.common import build
from orcheo_storage.models.tokens import ServiceToken, TokenAuditEvent
from orcheo_storage.rules.tokens import hash_secret

from orcheo_storage_contract_tests._runner import (
    MODEL_STEPS,
    ClockedStateMachine,
    ProvisionStorage,
    run_machine,
)
from orcheo_storage_contract_tests.near_miss import LONG_PREFIX, near_misses
from orcheo_storage_contract_tests.observation import assert_same, scribble
from orcheo_storage_contract_tests.reference.tokens_checkpoints import TokensModel

pytestmark = pytest.mark.orcheo_subsystem("service_tokens")

IDENTIFIERS = ("tok-a", "TOK-A", f"{LONG_PREFIX}-1", f"{LONG_PREFIX}-2")
SECRETS = ("s1", "s2", "s3", "s4", "s5")
EXPIRY = st.sampled_from(
    [None, timedelta(microseconds=1), timedelta(seconds=1), timedelta(hours=1)]
)


def _hash_misses(secret_hash: str) -> list[str]:
    flipped = secret_hash[:-1] + ("0" if secret_hash[-1] != "0" else "1")
    return [secret_hash[:16], secret_hash[:-1], secret_hash.upper(), flipped, f" {secret_hash}"]


class TokensMachine(ClockedStateMachine):
    def __init__(self, provision: ProvisionStorage) -> None:
        super().__init__(provision)
        self.model = TokensModel()

    @property
    def store(self) -> Any:
        return self.storage.service_tokens

    @rule(
        identifier=st.sampled_from(IDENTIFIERS),
        secret=st.sampled_from(SECRETS),
        expires=EXPIRY,
        scopes=st.sampled_from([[], ["read", "Read"]]),
    )
    def create(
        self, identifier: str, secret: str, expires: timedelta | None, scopes: list[str]
    ) -> None:
        now = self.clock.now()
        row: dict[str, Any] = {
            "identifier": identifier,
            "secret_hash": hash_secret(secret),
            "scopes": scopes,
            "workspace_ids": ["ws-1"],
            "issued_at": now,
            "expires_at": None if expires is None else now + expires,
            "rotation_expires_at": None,
            "rotated_to": None,
            "revoked_at": None,
            "revocation_reason": None,
            "last_used_at": None,
            "use_count": 0,
            "created_at": None,
            "created_by": "admin" if scopes else None,
            "rotated_from": None,
            "revoked_by": None,
            "allowed_ip_ranges": ["10.0.0.0/8"] if scopes else None,
            "rate_limit_override": None if scopes else 2**40,
        }
        token = build(ServiceToken, **row)
        row["created_at"] = now  # stamped by the store when the caller gives none
        if identifier in self.model.tokens or self.model.by_hash(row["secret_hash"]) is not None:
            with pytest.raises(DuplicateError):
                self.call(self.store.create(token))
            return
        assert_same(self.call(self.store.create(token)), row, "create's result")
        self.model.tokens[identifier] = row

    @rule(identifier=st.sampled_from(IDENTIFIERS), scopes=st.sampled_from([["write"], []]))
    def update(self, identifier: str, scopes: list[str]) -> None:
        row = self.model.tokens.get(identifier)
        if row is None:
            stub = build(
                ServiceToken,
                identifier=identifier,
                secret_hash=hash_secret("zz"),
                issued_at=self.clock.now(),
            )
            with pytest.raises(TokenNotFoundError):
                self.call(self.store.update(stub))
            return
        new = {**row, "scopes": scopes}
        assert_same(self.call(self.store.update(build(ServiceToken, **new))), new, "update")
        self.model.tokens[identifier] = new

    @rule(data=st.data())
    def update_to_a_taken_hash(self, data: st.DataObject) -> None:
        """Taking another token's hash is a conflict that names no hash, and changes nothing."""
        if len(self.model.tokens) < 2:
            return
        first, second = data.draw(st.permutations(list(self.model.tokens)))[:2]
        taken = self.model.tokens[second]["secret_hash"]
        clash = build(ServiceToken, **{**self.model.tokens[first], "secret_hash": taken})
        with pytest.raises(DuplicateError) as info:
            self.call(self.store.update(clash))
        assert str(info.value) == "service token secret hash already exists: <redacted>"

    @rule(identifier=st.sampled_from(IDENTIFIERS))
    def delete(self, identifier: str) -> None:
        self.call(self.store.delete(identifier))
        self.model.tokens.pop(identifier, None)

    @rule(identifier=st.sampled_from(IDENTIFIERS))
    def revoke(self, identifier: str) -> None:
        row = self.model.tokens.get(identifier)
        if row is None:
            with pytest.raises(TokenNotFoundError):
                self.call(self.store.revoke(identifier, reason="r", actor="admin"))
            return
        got = self.call(self.store.revoke(identifier, reason="r", actor="admin"))
        if row["revoked_at"] is None:
            now = self.clock.now()
            row.update(revoked_at=now, revocation_reason="r")
            self.model.event(identifier, "revoked", now, actor="admin", details={"reason": "r"})
        assert_same(got, row, "revoke's result")

    @rule(identifier=st.sampled_from(IDENTIFIERS), ip=st.sampled_from([None, "10.0.0.1"]))
    def record_usage(self, identifier: str, ip: str | None) -> None:
        row = self.model.tokens.get(identifier)
        if row is None:
            with pytest.raises(TokenNotFoundError):
                self.call(self._use_and_flush(identifier, ip))
            return
        self.call(self.store.record_usage(identifier, ip=ip, user_agent="ua"))
        now = self.clock.now()
        row.update(last_used_at=now, use_count=row["use_count"] + 1)
        self.model.event(identifier, "used", now, ip=ip, user_agent="ua")

    async def _use_and_flush(self, identifier: str, ip: str | None) -> None:
        """Usage may be coalesced, but an unknown token is refused by the flush at the latest."""
        await self.store.record_usage(identifier, ip=ip, user_agent="ua")
        await self.store.flush_usage()

    @rule(identifier=st.sampled_from(IDENTIFIERS), shift=st.sampled_from([-3, -1, 0, 2]))
    def record_audit_event(self, identifier: str, shift: int) -> None:
        at = self.clock.now() + timedelta(microseconds=shift)
        event = {
            "token_id": identifier,
            "action": "rotated",
            "actor": "a",
            "ip": None,
            "user_agent": None,
            "timestamp": at,
            "details": {"n": 2.0, "big": 2**70},
        }
        self.call(self.store.record_audit_event(build(TokenAuditEvent, **event)))
        self.model.audit.append(event)

    @precondition(lambda self: bool(self.model.tokens))
    @rule(data=st.data())
    def scribble_on_results(self, data: st.DataObject) -> None:
        identifier = data.draw(st.sampled_from(list(self.model.tokens)))
        scribble(self.call(self.store.get_by_id(identifier)))
        scribble(self.call(self.store.get_by_hash(self.model.tokens[identifier]["secret_hash"])))
        for event in self.call(self.store.list_audit_events(limit=5)):
            scribble(event)

    @rule(data=st.data())
    def probe_near_misses(self, data: st.DataObject) -> None:
        """Exact match: near misses of an identifier find nothing (or what the model says),
        near misses of a stored hash find nothing."""
        identifier = data.draw(st.sampled_from(IDENTIFIERS))
        for miss in near_misses(identifier):
            row = self.model.tokens.get(miss)
            if row is None:
                with pytest.raises(TokenNotFoundError):
                    self.call(self.store.get_by_id(miss))
            else:
                assert_same(self.call(self.store.get_by_id(miss)), row, f"get_by_id({miss!r})")
        stored = [t["secret_hash"] for t in self.model.tokens.values()]
        secret_hash = data.draw(st.sampled_from([*stored, hash_secret("never-issued")]))
        for miss in _hash_misses(secret_hash):
            note(f"get_by_hash near miss {miss!r}")
            found = self.call(self.store.get_by_hash(miss))
            assert found is None, f"hash near miss {miss!r} found {found!r}"

    @invariant()
    def tokens_match(self) -> None:
        self.call(self.store.flush_usage())
        now = self.clock.now()
        assert_same(self.call(self.store.list_all()), self.model.listed(), "list_all")
        assert_same(self.call(self.store.list_active()), self.model.active(now), "list_active()")
        later = now + timedelta(seconds=1)
        assert_same(
            self.call(self.store.list_active(now=later)),
            self.model.active(later),
            "list_active(later)",
        )
        for identifier in IDENTIFIERS:
            row = self.model.tokens.get(identifier)
            if row is None:
                with pytest.raises(TokenNotFoundError):
                    self.call(self.store.get_by_id(identifier))
            else:
                assert_same(
                    self.call(self.store.get_by_id(identifier)), row, f"get_by_id({identifier!r})"
                )
                got = self.call(self.store.get_by_hash(row["secret_hash"]))
                assert_same(got, row, f"get_by_hash of {identifier!r}")

    @invariant()
    def audit_matches(self) -> None:
        recorded = {e["token_id"] for e in self.model.audit}
        for token_id in (None, *sorted(recorded)):
            for limit in (1, 100):
                got = self.call(self.store.list_audit_events(token_id=token_id, limit=limit))
                assert_same(
                    got,
                    self.model.events(token_id, limit),
                    f"list_audit_events({token_id!r}, {limit})",
                )


def test_tokens_model_state_machine(provision_storage: ProvisionStorage) -> None:
    run_machine(TokensMachine, provision_storage, min_steps=MODEL_STEPS)
