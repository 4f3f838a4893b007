"""The vault's record store. Backends see ciphertext only; encryption is in core."""

from __future__ import annotations

from typing import Protocol, runtime_checkable
from uuid import UUID

from orcheo_storage.models.vault import (
    CredentialTemplate,
    EncryptedSecret,
    GovernanceAlert,
    StoredCredential,
)


@runtime_checkable
class VaultRecordStore(Protocol):
    """Persistence of vault records. Applications use :class:`orcheo_storage.vault.CredentialVault`."""

    async def insert_credential(self, record: StoredCredential) -> None:
        """Raises ``DuplicateError`` when the id exists or the name is taken (case-insensitive)."""
        ...

    async def replace_credential(self, record: StoredCredential) -> None:
        """Raises ``CredentialNotFoundError``; ``DuplicateError`` for a taken name."""
        ...

    async def get_credential(self, credential_id: UUID) -> StoredCredential: ...

    async def list_credentials(self) -> list[StoredCredential]:
        """Ordered by created_at, id."""
        ...

    async def delete_credential(self, credential_id: UUID) -> None:
        """Deletes the credential and its alerts atomically. Raises ``CredentialNotFoundError``."""
        ...

    async def insert_template(self, template: CredentialTemplate) -> None: ...

    async def replace_template(self, template: CredentialTemplate) -> None: ...

    async def get_template(self, template_id: UUID) -> CredentialTemplate: ...

    async def list_templates(self) -> list[CredentialTemplate]: ...

    async def delete_template(self, template_id: UUID) -> None:
        """Deletes the template and its alerts atomically."""
        ...

    async def upsert_alert(self, alert: GovernanceAlert) -> GovernanceAlert:
        """Insert, or update the unacknowledged alert with the same (kind, credential_id,
        template_id) keeping its id and created_at; returns what is stored. Atomic."""
        ...

    async def get_alert(self, alert_id: UUID) -> GovernanceAlert: ...

    async def replace_alert(self, alert: GovernanceAlert) -> None: ...

    async def list_alerts(self, *, include_acknowledged: bool = False) -> list[GovernanceAlert]:
        """Newest first."""
        ...

    async def get_key_check(self, key_id: str) -> EncryptedSecret | None:
        """The key check stored for ``key_id`` (:mod:`orcheo_storage.keycheck`), if any."""
        ...

    async def add_key_check(self, key_id: str, check: EncryptedSecret) -> EncryptedSecret:
        """Store ``check`` for ``key_id`` unless one is stored already; return the stored one.

        Atomic across processes: when several add one at once, all get the first.
        """
        ...
