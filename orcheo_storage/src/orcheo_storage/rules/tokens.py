"""Service-token hashing and constant-time comparison."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from orcheo_storage.models.tokens import ServiceToken


def hash_secret(secret: str) -> str:
    """SHA-256 hex of a raw token secret; the only form that reaches storage."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def hashes_equal(a: str, b: str) -> bool:
    """Constant-time comparison of two hashes or secrets."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def stamp_created(token: ServiceToken, now: datetime) -> ServiceToken:
    """``token`` with ``created_at`` set to ``now`` unless the caller gave one."""
    return token if token.created_at is not None else token.model_copy(update={"created_at": now})
