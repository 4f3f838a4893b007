"""Contract: the credential vault, by Hypothesis: properties and a state machine against a model.

The example-based tests of the same subsystem are in ``test_vault.py``.
"""

from __future__ import annotations

import dataclasses
import uuid

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
    AsyncStateMachine,
    ProvisionStorage,
    run,
    run_machine,
)
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


@dataclasses.dataclass
class _Alert:
    kind: str
    credential: str | None
    acknowledged: bool = False


class VaultMachine(AsyncStateMachine):
    """Credentials, rotations, alerts and acknowledgements against a small model."""

    def __init__(self, provision: ProvisionStorage) -> None:
        super().__init__(provision)
        self.secrets: dict[str, str] = {}
        self.ids: dict[str, uuid.UUID] = {}
        self.alerts: dict[uuid.UUID, _Alert] = {}

    @rule(
        name=st.sampled_from(["alpha", "Beta", "gamma"]), secret=st.sampled_from(["s1", "s2", "s3"])
    )
    def create(self, name: str, secret: str) -> None:
        key = name.lower()
        if key in self.secrets:
            with pytest.raises(DuplicateError):
                self.call(
                    self.storage.vault.create_credential(
                        name=name.upper(), provider="p", secret=secret, actor="sm"
                    )
                )
            return
        cred = self.call(
            self.storage.vault.create_credential(name=name, provider="p", secret=secret, actor="sm")
        )
        self.secrets[key] = secret
        self.ids[key] = cred.id

    @precondition(lambda self: bool(self.secrets))
    @rule(data=st.data(), secret=st.sampled_from(["s1", "s2", "s3"]))
    def rotate(self, data: st.DataObject, secret: str) -> None:
        key = data.draw(st.sampled_from(list(self.secrets)))
        if self.secrets[key] == secret:
            with pytest.raises(SecretUnchangedError):
                self.call(self.storage.vault.rotate_secret(self.ids[key], secret, actor="sm"))
            return
        self.call(self.storage.vault.rotate_secret(self.ids[key], secret, actor="sm"))
        self.secrets[key] = secret

    @precondition(lambda self: bool(self.secrets))
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(list(self.secrets)))
        self.call(self.storage.vault.delete_credential(self.ids[key]))
        del self.secrets[key]
        del self.ids[key]
        self.alerts = {i: a for i, a in self.alerts.items() if a.credential != key}

    @rule(data=st.data(), kind=st.sampled_from(["expiring", "unused"]))
    def alert(self, data: st.DataObject, kind: str) -> None:
        key = data.draw(st.sampled_from([None, *self.secrets]))
        credential_id = None if key is None else self.ids[key]
        alert = self.call(
            self.storage.vault.record_alert(kind=kind, message="m", credential_id=credential_id)
        )
        match = [
            i
            for i, a in self.alerts.items()
            if (a.kind, a.credential, a.acknowledged) == (kind, key, False)
        ]
        if match:
            assert alert.id == match[0]
        else:
            assert alert.id not in self.alerts
            self.alerts[alert.id] = _Alert(kind, key)

    @precondition(lambda self: bool(self.alerts))
    @rule(data=st.data())
    def acknowledge(self, data: st.DataObject) -> None:
        alert_id = data.draw(st.sampled_from(list(self.alerts)))
        acked = self.call(self.storage.vault.acknowledge_alert(alert_id, actor="sm"))
        assert acked.acknowledged
        self.alerts[alert_id].acknowledged = True

    @invariant()
    def vault_matches_model(self) -> None:
        creds = self.call(self.storage.vault.list_credentials())
        assert sorted(c.name.lower() for c in creds) == sorted(self.secrets)
        for key, secret in self.secrets.items():
            revealed = self.call(self.storage.vault.reveal_secret(self.ids[key]))
            assert revealed.get_secret_value() == secret
        alerts = self.call(self.storage.vault.list_alerts(include_acknowledged=True))
        note(f"alerts: {[(a.kind, a.acknowledged) for a in alerts]}")
        assert {a.id: a.acknowledged for a in alerts} == {
            i: a.acknowledged for i, a in self.alerts.items()
        }
        open_keys = [(a.kind, a.credential_id) for a in alerts if not a.acknowledged]
        assert len(open_keys) == len(set(open_keys)), "two open alerts for the same subject"


def test_vault_state_machine(provision_storage: ProvisionStorage) -> None:
    run_machine(VaultMachine, provision_storage)
