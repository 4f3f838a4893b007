"""Where the vault key comes from: the setting, else a key file beside the vault database.

Ciphertext lives in the vault (credentials) and in the repository (webhook secrets). A key
file is a per-host default: right for SQLite files on that host, wrong for a server shared
by several hosts, where each host would silently make a key of its own. So:

* ``ORCHEO_VAULT_ENCRYPTION_KEY`` set: that key;
* both on ``memory``: an ephemeral random key (the data dies with the process anyway);
* either on a server several hosts share (:data:`SHARED_SERVER_BACKENDS`): refused, the key
  must be set explicitly;
* otherwise: the key in ``<vault path>.key`` (created 0600, atomically, on first use). A
  third-party backend on a shared server should be used with an explicit key too: the host
  cannot tell that its data leaves this machine.
"""

from __future__ import annotations

import os

from orcheo_storage.crypto import VaultCipher, derive_key, load_or_create_key_file
from orcheo_storage.errors import ConfigurationError
from orcheo_storage.settings import StorageSettings

SHARED_SERVER_BACKENDS = frozenset({"postgres"})
"""Backends whose data lives on a server several hosts share: they need an explicit key."""


def cipher_for(settings: StorageSettings) -> VaultCipher:
    """The vault cipher for ``settings`` (see the module docstring for the rules).

    Raises:
        ConfigurationError: no key is set while the vault or the repository is on a shared
            server, or the key file is empty or cannot be created.
    """
    holders = {settings.vault_backend, settings.repository_backend}
    if settings.vault_encryption_key is not None:
        secret = settings.vault_encryption_key.get_secret_value()
    elif holders == {"memory"}:
        return VaultCipher({settings.vault_key_id: os.urandom(32)}, settings.vault_key_id)
    elif holders & SHARED_SERVER_BACKENDS:
        shared = ", ".join(sorted(holders & SHARED_SERVER_BACKENDS))
        raise ConfigurationError(
            "ORCHEO_VAULT_ENCRYPTION_KEY is required when the vault or the repository "
            f"(webhook secrets) is on a shared backend ({shared}): a key file would give each "
            "host a key of its own"
        )
    else:
        secret = load_or_create_key_file(settings.vault_local_path.expanduser().with_suffix(".key"))
    return VaultCipher({settings.vault_key_id: derive_key(secret)}, settings.vault_key_id)
