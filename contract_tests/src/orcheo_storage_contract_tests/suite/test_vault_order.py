"""Contract: the vault record store's list orders, ties included, and name uniqueness
(DOMAIN.md section 6).

Credentials and templates list oldest first, alerts newest first; equal ``created_at`` is
broken by the id (ascending, or descending for alerts). Written so that creation order, id
order and time order all disagree: a backend sorting by one key only, or not at all, fails.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from orcheo_storage.errors import DuplicateError
from orcheo_storage.models.vault import EncryptedSecret
from orcheo_storage.storage import Storage

pytestmark = pytest.mark.orcheo_subsystem("vault")

T0 = datetime(2031, 4, 5, 6, 7, 8, 123456, tzinfo=UTC)
# (id number, created_at): inserted in this order; sorted (created_at, id) is 1, 4, 2, 3
PLAN = [(3, T0), (4, T0 - timedelta(microseconds=1)), (2, T0), (1, T0 - timedelta(seconds=1))]
OLDEST_FIRST = [1, 4, 2, 3]


async def test_templates_list_oldest_first_ties_by_id(storage: Storage) -> None:
    made = await storage.vault.create_template(name="t", provider="p", actor="x")
    records = storage.vault.records
    await records.delete_template(made.id)
    for n, at in PLAN:
        template = made.model_copy(
            update={"id": uuid.UUID(int=n), "name": f"t{n}", "created_at": at, "updated_at": at}
        )
        await records.insert_template(template)
    listed = await records.list_templates()
    assert [t.id.int for t in listed] == OLDEST_FIRST
    assert [t.name for t in await storage.vault.list_templates()] == [f"t{n}" for n in OLDEST_FIRST]


async def test_credentials_list_oldest_first_ties_by_id(storage: Storage) -> None:
    made = await storage.vault.create_credential(name="c", provider="p", secret="s", actor="x")
    records = storage.vault.records
    record = await records.get_credential(made.id)
    await records.delete_credential(made.id)
    for n, at in PLAN:
        credential = record.credential.model_copy(
            update={"id": uuid.UUID(int=n), "name": f"c{n}", "created_at": at, "updated_at": at}
        )
        await records.insert_credential(record.model_copy(update={"credential": credential}))
    listed = await records.list_credentials()
    assert [r.credential.id.int for r in listed] == OLDEST_FIRST
    assert [r.credential.name for r in listed] == [f"c{n}" for n in OLDEST_FIRST]


async def test_alerts_list_newest_first_ties_by_id(storage: Storage) -> None:
    made = await storage.vault.record_alert(kind="k", message="m")
    records = storage.vault.records
    await records.replace_alert(made.model_copy(update={"acknowledged": True}))
    for n, at in PLAN:
        alert = made.model_copy(
            update={"id": uuid.UUID(int=n), "kind": f"k{n}", "created_at": at, "updated_at": at}
        )
        await records.upsert_alert(alert)
    listed = await records.list_alerts()
    assert [a.id.int for a in listed] == OLDEST_FIRST[::-1]
    everything = await records.list_alerts(include_acknowledged=True)
    assert [a.id.int for a in everything] == [*OLDEST_FIRST[::-1], made.id.int]  # made: now < T0


async def test_names_differing_only_after_upper_casing_are_distinct(storage: Storage) -> None:
    """Uniqueness is by the lower-cased name: "Straße" and "STRASSE" are different names
    (their upper-cased forms are equal), while a case variant of either collides."""
    vault = storage.vault
    await vault.create_credential(name="Straße", provider="p", secret="1", actor="x")
    await vault.create_credential(name="STRASSE", provider="p", secret="2", actor="x")
    names = sorted(c.name for c in await vault.list_credentials())
    assert names == ["STRASSE", "Straße"]
    with pytest.raises(DuplicateError):
        await vault.create_credential(name="strasse", provider="p", secret="3", actor="x")
    with pytest.raises(DuplicateError):
        await vault.create_credential(name="STRAßE", provider="p", secret="4", actor="x")


async def test_a_key_check_keeps_its_algorithm(storage: Storage) -> None:
    records = storage.vault.records
    check = EncryptedSecret(algorithm="other-aead.v9", key_id="spare-key", ciphertext="Y2hlY2s=")
    assert await records.add_key_check("spare-key", check) == check
    assert await records.get_key_check("spare-key") == check
    # first writer wins: a second check for the key id changes nothing
    later = check.model_copy(update={"algorithm": "aes256-gcm.v1", "ciphertext": "b3RoZXI="})
    assert await records.add_key_check("spare-key", later) == check
    assert await records.get_key_check("spare-key") == check
