"""Contract: vault key checks (``VaultRecordStore.get_key_check`` / ``add_key_check``).

A wrong vault key is refused when storage opens, before it can write anything: each key id
has one stored check envelope, added once (first writer wins, across processes) and opened
with the configured key at start-up (``orcheo_storage.keycheck``).
"""

from __future__ import annotations

import asyncio

import pytest
from orcheo_storage.crypto import VaultCipher
from orcheo_storage.errors import ConfigurationError
from orcheo_storage.keycheck import verify_vault_key
from orcheo_storage.storage import Storage


def _wrong_cipher(storage: Storage) -> VaultCipher:
    return VaultCipher.from_passphrase("not-the-vault-key", storage.settings.vault_key_id)


@pytest.mark.asyncio
async def test_opening_storage_stored_a_check_for_the_active_key(storage: Storage) -> None:
    check = await storage.vault.records.get_key_check(storage.settings.vault_key_id)
    assert check is not None
    assert check.key_id == storage.settings.vault_key_id
    await storage.verify_vault_key()  # the configured key opens it


@pytest.mark.asyncio
async def test_a_wrong_key_is_refused_and_writes_nothing(storage: Storage) -> None:
    records = storage.vault.records
    await storage.vault.create_credential(name="kept", provider="p", secret="s", actor="a")
    before = await records.get_key_check(storage.settings.vault_key_id)
    with pytest.raises(ConfigurationError, match="not the key this vault was written with"):
        await verify_vault_key(records, _wrong_cipher(storage))
    assert await records.get_key_check(storage.settings.vault_key_id) == before
    assert [c.name for c in await storage.vault.list_credentials()] == ["kept"]


@pytest.mark.asyncio
async def test_a_check_is_added_once_first_writer_wins(storage: Storage) -> None:
    records = storage.vault.records
    key_id = "rotated-key"
    assert await records.get_key_check(key_id) is None
    ciphers = [VaultCipher.from_passphrase(f"key-{i}", key_id) for i in range(6)]
    envelopes = [c.encrypt("x") for c in ciphers]
    stored = await asyncio.gather(*(records.add_key_check(key_id, e) for e in envelopes))
    assert all(s == stored[0] for s in stored)
    assert stored[0] in envelopes
    assert await records.add_key_check(key_id, envelopes[-1]) == stored[0]
    assert await records.get_key_check(key_id) == stored[0]


@pytest.mark.asyncio
async def test_first_check_of_a_key_id_must_open_existing_secrets(storage: Storage) -> None:
    """A key id seen for the first time, with secrets already stored under it (a vault from
    before key checks, or just migrated): the key must open one of them first."""
    records = storage.vault.records
    key_id = "legacy-key"
    legacy = VaultCipher.from_passphrase("the-legacy-key", key_id)
    from orcheo_storage.vault import CredentialVault

    await CredentialVault(records, legacy).create_credential(
        name="old", provider="p", secret="s", actor="a"
    )
    with pytest.raises(ConfigurationError):
        await verify_vault_key(records, VaultCipher.from_passphrase("another-key", key_id))
    assert await records.get_key_check(key_id) is None  # nothing stored for the wrong key
    await verify_vault_key(records, legacy)
    assert await records.get_key_check(key_id) is not None
