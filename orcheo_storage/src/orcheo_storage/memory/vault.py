"""In-memory vault record store. It only ever holds ciphertext (encryption is in core)."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from orcheo_storage.errors import (
    AlertNotFoundError,
    CredentialNotFoundError,
    DuplicateError,
    TemplateNotFoundError,
)
from orcheo_storage.memory._lifecycle import refuses_when_closed
from orcheo_storage.memory._state import MemoryState, copy, copy_in, sort_key_id
from orcheo_storage.models.vault import (
    CredentialTemplate,
    EncryptedSecret,
    GovernanceAlert,
    StoredCredential,
)
from orcheo_storage.rules.alerts import merge_open_alert


@refuses_when_closed
class MemoryVaultRecordStore:
    """:class:`~orcheo_storage.protocols.vault.VaultRecordStore` over a session's state."""

    def __init__(self, state: MemoryState) -> None:
        self._state = state

    # --- credentials ---------------------------------------------------------------------------

    def _check_name(self, record: StoredCredential) -> None:
        name = record.credential.name.lower()
        for other in self._state.credentials.values():
            if (
                other.credential.id != record.credential.id
                and other.credential.name.lower() == name
            ):
                raise DuplicateError("credential name", record.credential.name)

    async def insert_credential(self, record: StoredCredential) -> None:
        stored = copy_in(record)
        if stored.credential.id in self._state.credentials:
            raise DuplicateError("credential", stored.credential.id)
        self._check_name(stored)
        self._state.credentials[stored.credential.id] = stored

    async def replace_credential(self, record: StoredCredential) -> None:
        stored = copy_in(record)
        if stored.credential.id not in self._state.credentials:
            raise CredentialNotFoundError(stored.credential.id)
        self._check_name(stored)
        self._state.credentials[stored.credential.id] = stored

    async def get_credential(self, credential_id: UUID) -> StoredCredential:
        record = self._state.credentials.get(credential_id)
        if record is None:
            raise CredentialNotFoundError(credential_id)
        return copy(record)

    async def list_credentials(self) -> list[StoredCredential]:
        records = sorted(
            self._state.credentials.values(),
            key=lambda r: sort_key_id(r.credential.created_at, r.credential.id),
        )
        return [copy(r) for r in records]

    async def delete_credential(self, credential_id: UUID) -> None:
        if credential_id not in self._state.credentials:
            raise CredentialNotFoundError(credential_id)
        del self._state.credentials[credential_id]
        self._drop_alerts(lambda a: a.credential_id == credential_id)

    # --- templates -----------------------------------------------------------------------------

    async def insert_template(self, template: CredentialTemplate) -> None:
        stored = copy_in(template)
        if stored.id in self._state.templates:
            raise DuplicateError("credential template", stored.id)
        self._state.templates[stored.id] = stored

    async def replace_template(self, template: CredentialTemplate) -> None:
        stored = copy_in(template)
        if stored.id not in self._state.templates:
            raise TemplateNotFoundError(stored.id)
        self._state.templates[stored.id] = stored

    async def get_template(self, template_id: UUID) -> CredentialTemplate:
        template = self._state.templates.get(template_id)
        if template is None:
            raise TemplateNotFoundError(template_id)
        return copy(template)

    async def list_templates(self) -> list[CredentialTemplate]:
        templates = sorted(
            self._state.templates.values(), key=lambda t: sort_key_id(t.created_at, t.id)
        )
        return [copy(t) for t in templates]

    async def delete_template(self, template_id: UUID) -> None:
        if template_id not in self._state.templates:
            raise TemplateNotFoundError(template_id)
        del self._state.templates[template_id]
        self._drop_alerts(lambda a: a.template_id == template_id)

    # --- alerts --------------------------------------------------------------------------------

    def _drop_alerts(self, doomed: Callable[[GovernanceAlert], bool]) -> None:
        for alert_id in [a.id for a in self._state.alerts.values() if doomed(a)]:
            del self._state.alerts[alert_id]

    async def upsert_alert(self, alert: GovernanceAlert) -> GovernanceAlert:
        incoming = copy_in(alert)
        for existing in self._state.alerts.values():
            if (
                not existing.acknowledged
                and existing.kind == incoming.kind
                and existing.credential_id == incoming.credential_id
                and existing.template_id == incoming.template_id
            ):
                merged = merge_open_alert(existing, incoming)
                self._state.alerts[existing.id] = merged
                return copy(merged)
        self._state.alerts[incoming.id] = incoming
        return copy(incoming)

    async def get_alert(self, alert_id: UUID) -> GovernanceAlert:
        alert = self._state.alerts.get(alert_id)
        if alert is None:
            raise AlertNotFoundError(alert_id)
        return copy(alert)

    async def replace_alert(self, alert: GovernanceAlert) -> None:
        stored = copy_in(alert)
        if stored.id not in self._state.alerts:
            raise AlertNotFoundError(stored.id)
        self._state.alerts[stored.id] = stored

    async def list_alerts(self, *, include_acknowledged: bool = False) -> list[GovernanceAlert]:
        alerts = [
            a for a in self._state.alerts.values() if include_acknowledged or not a.acknowledged
        ]
        alerts.sort(key=lambda a: sort_key_id(a.created_at, a.id), reverse=True)
        return [copy(a) for a in alerts]

    # --- key checks ----------------------------------------------------------------------------

    async def get_key_check(self, key_id: str) -> EncryptedSecret | None:
        check = self._state.key_checks.get(key_id)
        return None if check is None else copy(check)

    async def add_key_check(self, key_id: str, check: EncryptedSecret) -> EncryptedSecret:
        stored = self._state.key_checks.setdefault(key_id, copy_in(check))
        return copy(stored)
