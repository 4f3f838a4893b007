"""Vault encryption: AES-256-GCM envelopes with a key id per row.

The AES key for a configured key string is its SHA-256 (the rule today's Orcheo
uses, so existing vaults decrypt). Several keys may be known at once so that rows
written under an old key still decrypt after a rotation; new rows use the active key.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from orcheo_storage.errors import ConfigurationError, DecryptionError
from orcheo_storage.models.vault import EncryptedSecret

ALGORITHM = "aes256-gcm.v1"
NONCE_BYTES = 12


def derive_key(secret: str) -> bytes:
    """The 32-byte AES key for a configured key string.

    Raises:
        ConfigurationError: the key string is empty (its hash would be a public key).
    """
    if not secret.strip():
        raise ConfigurationError("the vault key must not be empty")
    try:
        return hashlib.sha256(secret.encode("utf-8")).digest()
    except UnicodeEncodeError:
        raise ConfigurationError("the vault key must be valid text (no lone surrogates)") from None


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
    """The key string kept in ``path``, created (mode 0600) when missing.

    Creation is atomic across processes: each writes a fresh key to a private temporary
    file beside ``path`` (0600), fsyncs it and hard-links it to ``path``, which fails when
    ``path`` exists, so the file is never seen partly written and never replaced. Whoever
    loses the race reads the winner's key; every process ends with the same one.

    Raises:
        ConfigurationError: the key file is empty (never used as a key), unreadable, or the
            folder does not support hard links.
    """
    path = path.expanduser()
    try:
        return _read_key_file(path)
    except FileNotFoundError:
        pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot create the vault key file {path.name!r}: {exc.strerror}"
        ) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(base64.urlsafe_b64encode(os.urandom(32)).decode("ascii"))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process created it first: its key is the key
        except OSError as exc:
            raise ConfigurationError(
                f"cannot create the vault key file {path.name!r} ({exc.strerror}); "
                "set ORCHEO_VAULT_ENCRYPTION_KEY instead"
            ) from None
        else:
            _fsync_folder(path.parent)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
    return _read_key_file(path)


def _read_key_file(path: Path) -> str:
    problem = None
    try:
        key = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        problem = ConfigurationError(f"cannot read the vault key file {path.name!r}: {reason}")
    if problem is not None:
        raise problem
    if not key:
        raise ConfigurationError(
            f"the vault key file {path.name!r} is empty: an empty key is never used. Restore "
            "the key, or set ORCHEO_VAULT_ENCRYPTION_KEY (delete the file only if nothing "
            "was ever encrypted with it)"
        )
    return key


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
