"""Service-token hashing and constant-time comparison."""

from __future__ import annotations

import hashlib
import hmac


def hash_secret(secret: str) -> str:
    """SHA-256 hex of a raw token secret; the only form that reaches storage."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def hashes_equal(a: str, b: str) -> bool:
    """Constant-time comparison of two hashes or secrets."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
