"""Vault encryption: AES-256-GCM envelopes with a key id per row.

The AES key for a configured key string is its SHA-256 (the rule today's Orcheo
uses, so existing vaults decrypt). Several keys may be known at once so that rows
written under an old key still decrypt after a rotation; new rows use the active key.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from orcheo_storage.errors import ConfigurationError, DecryptionError
from orcheo_storage.models.vault import EncryptedSecret

ALGORITHM = "aes256-gcm.v1"
NONCE_BYTES = 12


def derive_key(secret: str) -> bytes:
    """The 32-byte AES key for a configured key string."""
    return hashlib.sha256(secret.encode("utf-8")).digest()


class VaultCipher:
    """Encrypts and decrypts secrets. Never shows key material in its repr."""

    def __init__(self, keys: dict[str, bytes], active_key_id: str) -> None:
        if active_key_id not in keys:
            raise ConfigurationError(f"active vault key id {active_key_id!r} has no key")
        for key_id, key in keys.items():
            if len(key) != 32:
                raise ConfigurationError(f"vault key {key_id!r} must be 32 bytes")
        self._keys = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.active_key_id = active_key_id

    @classmethod
    def from_passphrase(cls, passphrase: str, key_id: str = "primary") -> VaultCipher:
        return cls({key_id: derive_key(passphrase)}, key_id)

    def __repr__(self) -> str:
        return f"VaultCipher(active_key_id={self.active_key_id!r}, key_ids={sorted(self._keys)!r})"

    def encrypt(self, plaintext: str, *, associated_data: bytes | None = None) -> EncryptedSecret:
        """Encrypt with the active key and a fresh random nonce."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[self.active_key_id].encrypt(
            nonce, plaintext.encode("utf-8"), associated_data
        )
        return EncryptedSecret(
            algorithm=ALGORITHM,
            key_id=self.active_key_id,
            ciphertext=base64.b64encode(nonce + sealed).decode("ascii"),
        )

    def decrypt(self, envelope: EncryptedSecret, *, associated_data: bytes | None = None) -> str:
        """Decrypt an envelope.

        Raises:
            DecryptionError: unknown algorithm or key id, or the data was tampered with.
        """
        if envelope.algorithm != ALGORITHM:
            raise DecryptionError(f"unsupported vault algorithm {envelope.algorithm!r}")
        aead = self._keys.get(envelope.key_id)
        if aead is None:
            raise DecryptionError(f"no vault key with id {envelope.key_id!r} is configured")
        try:
            raw = base64.b64decode(envelope.ciphertext, validate=True)
            plain = aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], associated_data)
        except (InvalidTag, ValueError) as exc:
            raise DecryptionError(
                "vault ciphertext failed authentication (wrong key or tampered)"
            ) from exc
        return plain.decode("utf-8")


def load_or_create_key_file(path: Path) -> str:
    """Read the key string kept in ``path``, creating it (mode 0600) when missing."""
    path = path.expanduser()
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key)
    return key
