"""Where the vault key comes from: the setting, else a key file beside the vault database."""

from __future__ import annotations

import os

from orcheo_storage.crypto import VaultCipher, derive_key, load_or_create_key_file
from orcheo_storage.settings import StorageSettings


def cipher_for(settings: StorageSettings) -> VaultCipher:
    """The vault cipher for ``settings``.

    ``ORCHEO_VAULT_ENCRYPTION_KEY`` when set; otherwise an ephemeral key for the memory
    backend, or the key kept in ``<vault path>.key`` (created 0600 on first use).
    """
    if settings.vault_encryption_key is not None:
        secret = settings.vault_encryption_key.get_secret_value()
    elif settings.vault_backend == "memory":
        return VaultCipher({settings.vault_key_id: os.urandom(32)}, settings.vault_key_id)
    else:
        secret = load_or_create_key_file(settings.vault_local_path.expanduser().with_suffix(".key"))
    return VaultCipher({settings.vault_key_id: derive_key(secret)}, settings.vault_key_id)
