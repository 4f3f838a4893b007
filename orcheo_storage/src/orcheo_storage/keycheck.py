"""The vault key check: a wrong or missing key is refused at start-up, before it writes.

Without it, a process started with the wrong key writes new secrets under the same key id
(unreadable with the right key) and finds out only when an old secret fails to decrypt.
So each key id gets one small authenticated envelope in the vault, sealed when that key id
is first used; at start-up the configured key must open it. When the envelope is first
sealed and secrets already exist under that key id (a vault from before key checks, or
just migrated), the key must first open one of them.
"""

from __future__ import annotations

from orcheo_storage.crypto import VaultCipher
from orcheo_storage.errors import ConfigurationError, DecryptionError
from orcheo_storage.protocols.vault import VaultRecordStore
from orcheo_storage.vault import associated_data

PLAINTEXT = "orcheo-vault-key-check.v1"


def _ad(key_id: str) -> bytes:
    return f"orcheo-vault-key-check:{key_id}".encode()


def _refused(key_id: str) -> ConfigurationError:
    return ConfigurationError(
        f"the vault key (key id {key_id!r}) is not the key this vault was written with: "
        "check ORCHEO_VAULT_ENCRYPTION_KEY (or the key file beside the vault) and "
        "ORCHEO_VAULT_KEY_ID; nothing was written"
    )


async def verify_vault_key(records: VaultRecordStore, cipher: VaultCipher) -> None:
    """Check that ``cipher``'s active key is this vault's key for its key id.

    Raises:
        ConfigurationError: the key does not open the stored check (or, on first use of
            the key id, a secret already stored under it).
    """
    key_id = cipher.active_key_id
    stored = await records.get_key_check(key_id)
    if stored is None:
        await _opens_existing_secret(records, cipher)
        stored = await records.add_key_check(
            key_id, cipher.encrypt(PLAINTEXT, associated_data=_ad(key_id))
        )
    problem = None
    try:
        if cipher.decrypt(stored, associated_data=_ad(key_id)) != PLAINTEXT:
            problem = _refused(key_id)
    except DecryptionError:
        problem = _refused(key_id)
    if problem is not None:
        raise problem


async def _opens_existing_secret(records: VaultRecordStore, cipher: VaultCipher) -> None:
    for record in await records.list_credentials():
        if record.secret.key_id != cipher.active_key_id:
            continue
        problem = None
        try:
            cipher.decrypt(
                record.secret, associated_data=associated_data(record.credential.id, "secret")
            )
        except DecryptionError:
            problem = _refused(cipher.active_key_id)
        if problem is not None:
            raise problem
        return
