"""Vault encryption, key loading, timestamps and the error hierarchy."""

from __future__ import annotations

import base64
import os
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from orcheo_storage.clock import ensure_utc, optional_utc, utcnow
from orcheo_storage.crypto import ALGORITHM, VaultCipher, derive_key, load_or_create_key_file
from orcheo_storage.keys import cipher_for
from orcheo_storage.models.vault import EncryptedSecret
from orcheo_storage.settings import StorageSettings

from orcheo_storage import errors

# --- crypto -----------------------------------------------------------------------------------------


@given(
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=50),
    st.binary(max_size=16),
)
def test_encrypt_decrypt_round_trip(plaintext: str, ad: bytes) -> None:
    cipher = VaultCipher.from_passphrase("passphrase")
    envelope = cipher.encrypt(plaintext, associated_data=ad)
    assert envelope.algorithm == ALGORITHM
    assert envelope.key_id == "primary"
    assert cipher.decrypt(envelope, associated_data=ad) == plaintext


def test_same_secret_twice_gives_different_ciphertexts() -> None:
    cipher = VaultCipher.from_passphrase("k")
    a, b = cipher.encrypt("same"), cipher.encrypt("same")
    assert a.ciphertext != b.ciphertext
    assert "same" not in a.ciphertext


def _flip(envelope: EncryptedSecret, index: int) -> EncryptedSecret:
    raw = bytearray(base64.b64decode(envelope.ciphertext))
    raw[index] ^= 0x01
    return envelope.model_copy(update={"ciphertext": base64.b64encode(bytes(raw)).decode()})


@pytest.mark.parametrize("index", [0, 12, -1])  # nonce, body, tag
def test_tampering_is_detected(index: int) -> None:
    cipher = VaultCipher.from_passphrase("k")
    with pytest.raises(errors.DecryptionError, match="failed authentication"):
        cipher.decrypt(_flip(cipher.encrypt("secret"), index))


def test_wrong_key_wrong_ad_bad_base64_unknown_key_or_algorithm() -> None:
    cipher = VaultCipher.from_passphrase("k")
    envelope = cipher.encrypt("secret", associated_data=b"row-1")
    with pytest.raises(errors.DecryptionError):
        VaultCipher.from_passphrase("other").decrypt(envelope, associated_data=b"row-1")
    with pytest.raises(errors.DecryptionError):
        cipher.decrypt(envelope, associated_data=b"row-2")  # moved to another row
    with pytest.raises(errors.DecryptionError):
        cipher.decrypt(envelope.model_copy(update={"ciphertext": "!!not base64!!"}))
    with pytest.raises(errors.DecryptionError, match="no vault key with id 'old'"):
        cipher.decrypt(envelope.model_copy(update={"key_id": "old"}))
    with pytest.raises(errors.DecryptionError, match="unsupported vault algorithm"):
        cipher.decrypt(envelope.model_copy(update={"algorithm": "rot13"}))


def test_rotation_keeps_old_rows_readable() -> None:
    old = VaultCipher({"k1": derive_key("one")}, "k1")
    envelope = old.encrypt("secret")
    rotated = VaultCipher({"k1": derive_key("one"), "k2": derive_key("two")}, "k2")
    assert rotated.decrypt(envelope) == "secret"
    assert rotated.encrypt("new").key_id == "k2"


def test_cipher_configuration_errors_and_repr() -> None:
    with pytest.raises(errors.ConfigurationError, match="has no key"):
        VaultCipher({"a": derive_key("x")}, "b")
    with pytest.raises(errors.ConfigurationError, match="32 bytes"):
        VaultCipher({"a": b"short"}, "a")
    cipher = VaultCipher({"a": derive_key("x")}, "a")
    assert repr(cipher) == "VaultCipher(active_key_id='a', key_ids=['a'])"
    assert derive_key("x").hex() not in repr(cipher)


def test_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "vault.key"
    key = load_or_create_key_file(path)
    assert len(base64.urlsafe_b64decode(key)) == 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_or_create_key_file(path) == key


def test_cipher_for_settings(tmp_path: Path) -> None:
    configured = cipher_for(StorageSettings(vault_encryption_key="k", vault_key_id="main"))
    envelope = configured.encrypt("x")
    assert envelope.key_id == "main"
    assert VaultCipher.from_passphrase("k", "main").decrypt(envelope) == "x"  # key = sha256(k)
    on_disk = StorageSettings(vault_backend="sqlite", vault_local_path=tmp_path / "vault.sqlite")
    first = cipher_for(on_disk).encrypt("y")
    assert (tmp_path / "vault.key").exists()
    assert cipher_for(on_disk).decrypt(first) == "y"  # same key file next time
    memory = StorageSettings(
        vault_backend="memory", repository_backend="memory", vault_local_path=tmp_path / "m" / "v"
    )
    cipher_for(memory)
    assert not (tmp_path / "m").exists()  # nothing persisted: an ephemeral key
    # a memory vault beside a SQLite repository: its webhook secrets outlive the process
    cipher_for(memory.model_copy(update={"repository_backend": "sqlite"}))
    assert (tmp_path / "m" / "v.key").exists()


# --- clock ------------------------------------------------------------------------------------------


def test_utcnow_is_aware_utc() -> None:
    now = utcnow()
    assert now.tzinfo is UTC
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)


@given(st.datetimes(timezones=st.none() | st.timezones()))
def test_ensure_utc_keeps_the_instant(value: datetime) -> None:
    result = ensure_utc(value)
    assert result.tzinfo is UTC
    if value.tzinfo is None:
        assert result.replace(tzinfo=None) == value  # naive is read as UTC
    else:
        # same instant (compared in UTC: Python treats times in a DST gap as unequal otherwise)
        assert result == value.astimezone(UTC)
        assert result - value.astimezone(UTC) == timedelta(0)


def test_ensure_utc_converts_offsets_and_rejects_non_datetimes() -> None:
    plus_two = datetime(2026, 1, 1, 12, 0, 0, 5, tzinfo=timezone(timedelta(hours=2)))
    assert ensure_utc(plus_two) == datetime(2026, 1, 1, 10, 0, 0, 5, tzinfo=UTC)
    with pytest.raises(errors.ValidationError) as info:
        ensure_utc("2026-01-01", "at")  # type: ignore[arg-type]
    assert info.value.field == "at"
    assert optional_utc(None) is None


# --- errors -----------------------------------------------------------------------------------------


def test_every_error_derives_from_the_root() -> None:
    exported = [getattr(errors, name) for name in errors.__all__]
    assert errors.StorageError in exported
    assert all(issubclass(cls, errors.StorageError) for cls in exported)
    for cls in (errors.UnknownBackendError, errors.BackendNotInstalledError, errors.BackendBrokenError,
                errors.ApiVersionMismatchError):  # fmt: skip
        assert issubclass(cls, errors.PluginError)
        assert issubclass(cls, errors.ConfigurationError)
    assert issubclass(errors.BackendBusyError, errors.BackendUnavailableError)
    assert errors.BackendBusyError.retryable
    assert issubclass(errors.HandleConflictError, errors.ConflictError)


def test_not_found_errors_carry_their_key() -> None:
    not_found = [c for c in map(lambda n: getattr(errors, n), errors.__all__)
                 if issubclass(c, errors.NotFoundError) and c is not errors.NotFoundError]  # fmt: skip
    assert len(not_found) >= 15
    for cls in not_found:
        err = cls("k-1")
        assert err.key == "k-1"
        assert str(err) == f"{cls.entity} not found: k-1"
    assert (
        str(errors.WorkflowNotFoundError("x", "workflow ref is empty")) == "workflow ref is empty"
    )


def test_error_messages() -> None:
    assert str(errors.HandleConflictError("h")) == "workflow handle is already in use: 'h'"
    assert str(errors.DuplicateError("service token", "t1")) == "service token already exists: t1"
    err = errors.InvalidTransitionError("workflow run", "r", "succeeded", "running")
    assert str(err) == "cannot move workflow run r from 'succeeded' to 'running'"
    assert str(errors.ValidationError("bad", field="a.b")) == "a.b: bad"
    assert str(errors.ValidationError("bad")) == "bad"
    broken = errors.BackendBrokenError("x", None, None, "why")
    assert str(broken) == "storage backend 'x' is installed but broken: why"
