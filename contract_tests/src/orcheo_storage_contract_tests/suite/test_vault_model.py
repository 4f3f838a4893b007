"""Contract: the credential vault, by Hypothesis: properties and a state machine against a model.

The example-based tests of the same subsystem are in ``test_vault.py``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, note
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule
from orcheo_storage.errors import (
    DuplicateError,
    SecretUnchangedError,
    ValidationError,
)

from orcheo_storage_contract_tests._runner import (
    MODEL_STEPS,
    ClockedStateMachine,
    ProvisionStorage,
    run,
    run_machine,
)
from orcheo_storage_contract_tests.near_miss import LONG_PREFIX
from orcheo_storage_contract_tests.observation import assert_same, scribble
from orcheo_storage_contract_tests.reference.workflows import audit
from orcheo_storage_contract_tests.strategies import hostile_text, safe_text

# --- properties -----------------------------------------------------------------------------------


@given(
    secret=st.text(min_size=1, max_size=200).filter(lambda s: "\x00" not in s),
    name=safe_text.filter(lambda s: s.strip() != ""),
)
def test_property_secret_round_trip(
    provision_storage: ProvisionStorage, secret: str, name: str
) -> None:
    async def body() -> None:
        async with provision_storage() as storage:
            cred = await storage.vault.create_credential(
                name=name, provider="p", secret=secret, actor="x"
            )
            assert (await storage.vault.reveal_secret(cred.id)).get_secret_value() == secret
            assert (await storage.vault.get_credential(cred.id)).name == name.strip()
            record = await storage.vault.records.get_credential(cred.id)
            if len(secret) >= 8:
                assert secret not in record.secret.ciphertext

    run(body())


@given(bad=hostile_text())
def test_property_hostile_input_rejected(provision_storage: ProvisionStorage, bad: str) -> None:
    async def body() -> None:
        async with provision_storage() as storage:
            with pytest.raises(ValidationError):
                await storage.vault.create_credential(name="n", provider="p", secret=bad, actor="x")
            with pytest.raises(ValidationError):
                await storage.vault.create_credential(name="n", provider=bad, secret="s", actor="x")
            with pytest.raises(ValidationError):
                await storage.vault.record_alert(kind="k", message=bad)
            assert await storage.vault.list_credentials() == []
            assert await storage.vault.list_alerts(include_acknowledged=True) == []

    run(body())


# --- state machine --------------------------------------------------------------------------------


NAMES = (
    "alpha",
    "Beta",
    "ALPHA",
    "\uff41lpha",
    "alpha\u0301",
    f"{LONG_PREFIX}-n1",
    f"{LONG_PREFIX}-n2",
)
"""Credential names: a case variant (must clash: names are unique case-insensitively), a
width variant and a combining-accent variant (must not clash), a shared 16-char prefix."""


def _name_key(name: str) -> str:
    return name.strip().lower()


class VaultMachine(ClockedStateMachine):
    """Credentials, templates, alerts and acknowledgements against a small model."""

    def __init__(self, provision: ProvisionStorage) -> None:
        super().__init__(provision)
        self.secrets: dict[str, str] = {}
        self.ids: dict[str, uuid.UUID] = {}
        self.templates: dict[str, uuid.UUID] = {}
        self.created: dict[uuid.UUID, datetime] = {}
        self.alerts: dict[uuid.UUID, dict[str, Any]] = {}

    @rule(name=st.sampled_from(NAMES), secret=st.sampled_from(["s1", "s2", "s3"]))
    def create(self, name: str, secret: str) -> None:
        key = _name_key(name)
        call = self.storage.vault.create_credential(
            name=name, provider="p", secret=secret, actor="sm"
        )
        if key in self.secrets:
            with pytest.raises(DuplicateError):
                self.call(call)
            return
        cred = self.call(call)
        assert cred.name == name
        assert cred.created_at == self.clock.now()
        assert cred.last_rotated_at == cred.created_at, "a new secret's rotation time"
        assert cred.health_checked_at is None
        self.secrets[key] = secret
        self.ids[key] = cred.id
        self.created[cred.id] = cred.created_at

    @rule()
    def create_lookalikes(self) -> None:
        """A name and its fullwidth and accented twins are three names; its upper case is not."""
        for name in ("gamma", "\uff47amma", "gamma\u0301", "GAMMA"):
            self.create(name, "s1")

    @precondition(lambda self: bool(self.secrets))
    @rule(data=st.data(), secret=st.sampled_from(["s1", "s2", "s3"]))
    def rotate(self, data: st.DataObject, secret: str) -> None:
        key = data.draw(st.sampled_from(list(self.secrets)))
        if self.secrets[key] == secret:
            with pytest.raises(SecretUnchangedError):
                self.call(self.storage.vault.rotate_secret(self.ids[key], secret, actor="sm"))
            return
        rotated = self.call(self.storage.vault.rotate_secret(self.ids[key], secret, actor="sm"))
        assert rotated.updated_at == self.clock.now(), "rotation did not move updated_at"
        assert rotated.last_rotated_at == self.clock.now(), "rotation did not move last_rotated_at"
        again = self.call(self.storage.vault.get_credential(self.ids[key]))
        assert again.last_rotated_at == self.clock.now(), "last_rotated_at not stored"
        self.secrets[key] = secret

    @precondition(lambda self: bool(self.secrets))
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(list(self.secrets)))
        cid = self.ids.pop(key)
        self.call(self.storage.vault.delete_credential(cid))
        del self.secrets[key]
        self.alerts = {i: a for i, a in self.alerts.items() if a["credential_id"] != cid}

    @precondition(lambda self: len(self.templates) < 3)
    @rule(name=st.sampled_from(["tpl-a", "tpl-b", "tpl-c"]))
    def create_template(self, name: str) -> None:
        if name in self.templates:
            return
        template = self.call(
            self.storage.vault.create_template(name=name, provider="p", actor="sm")
        )
        self.templates[name] = template.id
        self.created[template.id] = template.created_at

    @precondition(lambda self: bool(self.templates))
    @rule(data=st.data())
    def delete_template(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(list(self.templates)))
        tid = self.templates.pop(name)
        self.call(self.storage.vault.delete_template(tid))
        self.alerts = {i: a for i, a in self.alerts.items() if a["template_id"] != tid}

    @rule(
        data=st.data(),
        kind=st.sampled_from(["expiring", "unused"]),
        message=st.sampled_from(["m1", "m2"]),
    )
    def alert(self, data: st.DataObject, kind: str, message: str) -> None:
        """An alert, then its neighbour with the other template reference (None <-> one)."""
        if not self.templates:
            self.create_template("tpl-a")
        credential_id = data.draw(st.sampled_from([None, *self.ids.values()]))
        template_id = data.draw(st.sampled_from([None, *self.templates.values()]))
        severity = data.draw(st.sampled_from(["warning", "critical"]))
        roles = data.draw(st.sampled_from([None, ["admin"]]))
        self._record_alert(kind, message, credential_id, template_id, severity, roles)
        neighbour = None
        if template_id is None and self.templates:
            neighbour = data.draw(st.sampled_from(list(self.templates.values())))
        if neighbour != template_id:
            self._record_alert(kind, message, credential_id, neighbour, severity, roles)

    def _record_alert(
        self,
        kind: str,
        message: str,
        credential_id: Any,
        template_id: Any,
        severity: str,
        roles: list[str] | None,
    ) -> None:
        got = self.call(
            self.storage.vault.record_alert(
                kind=kind,
                message=message,
                severity=severity,
                credential_id=credential_id,
                template_id=template_id,
                access=None if roles is None else {"roles": roles},
            )
        )
        now = self.clock.now()
        match = [
            a
            for a in self.alerts.values()
            if not a["acknowledged"]
            and (a["kind"], a["credential_id"], a["template_id"])
            == (kind, credential_id, template_id)
        ]
        if match:
            # Recorded again while open: severity, message and updated_at move; the access
            # scope and audit log stay those of the open alert.
            row = match[0]
            row.update(severity=severity, message=message, updated_at=now)
        else:
            row = {
                "id": got.id,
                "kind": kind,
                "severity": severity,
                "message": message,
                "credential_id": credential_id,
                "template_id": template_id,
                "acknowledged": False,
                "acknowledged_by": None,
                "acknowledged_at": None,
                "access": {"workflow_ids": [], "workspace_ids": [], "roles": roles or []},
                "audit_log": [
                    audit("governance", "alert_created", now, {"kind": kind, "severity": severity})
                ],
                "created_at": now,
                "updated_at": now,
            }
            assert got.id not in self.alerts
            self.alerts[got.id] = row
        assert_same(got, row, "record_alert's result")

    @precondition(lambda self: bool(self.alerts))
    @rule(data=st.data())
    def acknowledge(self, data: st.DataObject) -> None:
        alert_id = data.draw(st.sampled_from(list(self.alerts)))
        acked = self.call(self.storage.vault.acknowledge_alert(alert_id, actor="sm"))
        row = self.alerts[alert_id]
        if not row["acknowledged"]:
            now = self.clock.now()
            row.update(acknowledged=True, acknowledged_by="sm", acknowledged_at=now, updated_at=now)
            row["audit_log"].append(audit("sm", "alert_acknowledged", now))
        assert_same(acked, row, "acknowledge_alert's result")

    @precondition(lambda self: bool(self.secrets))
    @rule(data=st.data())
    def scribble_on_results(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(list(self.secrets)))
        scribble(self.call(self.storage.vault.get_credential(self.ids[key])))
        for alert in self.call(self.storage.vault.list_alerts(include_acknowledged=True)):
            scribble(alert)
        for record in self.call(self.storage.vault.records.list_credentials()):
            scribble(record)

    @invariant()
    def vault_matches_model(self) -> None:
        creds = self.call(self.storage.vault.list_credentials())
        expected_order = sorted(self.ids.values(), key=lambda c: (self.created[c], str(c)))
        assert [c.id for c in creds] == expected_order, "credentials in (created_at, id) order"
        for key, secret in self.secrets.items():
            revealed = self.call(self.storage.vault.reveal_secret(self.ids[key]))
            assert revealed.get_secret_value() == secret
        templates = self.call(self.storage.vault.list_templates())
        expected_templates = sorted(
            self.templates.values(), key=lambda t: (self.created[t], str(t))
        )
        assert [t.id for t in templates] == expected_templates, (
            "templates in (created_at, id) order"
        )
        default = self.call(self.storage.vault.list_alerts())
        assert [a.id for a in default] == [
            a.id for a in self.call(self.storage.vault.list_alerts(include_acknowledged=False))
        ], "list_alerts() leaves acknowledged alerts out by default"
        for include in (False, True):
            alerts = self.call(self.storage.vault.list_alerts(include_acknowledged=include))
            expected = sorted(
                (a for a in self.alerts.values() if include or not a["acknowledged"]),
                key=lambda a: (a["created_at"], str(a["id"])),
                reverse=True,
            )
            note(f"alerts: {[(a.kind, a.acknowledged) for a in alerts]}")
            assert_same(alerts, expected, f"list_alerts(include_acknowledged={include})")


def test_vault_state_machine(provision_storage: ProvisionStorage) -> None:
    run_machine(VaultMachine, provision_storage, min_steps=MODEL_STEPS)
