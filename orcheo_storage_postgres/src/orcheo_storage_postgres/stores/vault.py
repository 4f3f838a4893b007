"""Vault records on PostgreSQL (ciphertext only; encryption lives in core)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from orcheo_storage.errors import (
    AlertNotFoundError,
    CredentialNotFoundError,
    DuplicateError,
    TemplateNotFoundError,
)
from orcheo_storage.models.vault import (
    CredentialTemplate,
    EncryptedSecret,
    GovernanceAlert,
    StoredCredential,
)
from psycopg import sql

from orcheo_storage_postgres._db import Db
from orcheo_storage_postgres._errors import UniqueViolation
from orcheo_storage_postgres._rows import jsonb
from orcheo_storage_postgres.stores._codecs import ALERTS, CREDENTIALS, TEMPLATES

_CRED_COLUMNS = (*CREDENTIALS.columns, "secret", "oauth_tokens")
_INSERT_CRED = sql.SQL("INSERT INTO vault_credentials ({}) VALUES ({})").format(
    sql.SQL(", ").join(sql.Identifier(c) for c in _CRED_COLUMNS),
    sql.SQL(", ").join(sql.Placeholder(c) for c in _CRED_COLUMNS),
)
_UPDATE_CRED = sql.SQL("UPDATE vault_credentials SET {} WHERE id = %(id)s").format(
    sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder(c))
        for c in _CRED_COLUMNS
        if c not in ("id", "created_at")
    )
)
_CRED_SELECT = "SELECT * FROM vault_credentials"
_GET_CRED = _CRED_SELECT + " WHERE id = %s"
_LIST_CREDS = _CRED_SELECT + " ORDER BY created_at, id"
_DELETE_CRED = "DELETE FROM vault_credentials WHERE id = %s"
_DELETE_CRED_ALERTS = "DELETE FROM vault_alerts WHERE credential_id = %s"
_GET_TEMPLATE = TEMPLATES.select("id = %(id)s")
_LIST_TEMPLATES = TEMPLATES.select("TRUE", "ORDER BY created_at, id")
_UPDATE_TEMPLATE = TEMPLATES.update_all("id", skip=("created_at",))
_DELETE_TEMPLATE = "DELETE FROM vault_templates WHERE id = %s"
_DELETE_TEMPLATE_ALERTS = "DELETE FROM vault_alerts WHERE template_id = %s"
# The partial unique index on unacknowledged (kind, credential, template) makes this an
# atomic "update the open alert or add one", across processes.
_UPSERT_ALERT = ALERTS.insert_sql + sql.SQL(
    """ ON CONFLICT (kind,
        coalesce(credential_id, '00000000-0000-0000-0000-000000000000'::uuid),
        coalesce(template_id, '00000000-0000-0000-0000-000000000000'::uuid))
    WHERE NOT acknowledged
    DO UPDATE SET severity = excluded.severity, message = excluded.message,
        updated_at = excluded.updated_at
    RETURNING *"""
)
_GET_ALERT = ALERTS.select("id = %(id)s")
_UPDATE_ALERT = ALERTS.update_all("id", skip=("created_at",))
_LIST_ALERTS = ALERTS.select("TRUE", "ORDER BY created_at DESC, id DESC")
_LIST_OPEN_ALERTS = ALERTS.select("NOT acknowledged", "ORDER BY created_at DESC, id DESC")


def _cred_params(record: StoredCredential) -> dict[str, Any]:
    return CREDENTIALS.params(
        record.credential,
        secret=jsonb(record.secret),
        oauth_tokens=None if record.oauth_tokens is None else jsonb(record.oauth_tokens),
    )


def _load_cred(row: dict[str, Any]) -> StoredCredential:
    tokens = row["oauth_tokens"]
    return StoredCredential(
        credential=CREDENTIALS.load(row),
        secret=EncryptedSecret.model_validate(row["secret"]),
        oauth_tokens=None if tokens is None else EncryptedSecret.model_validate(tokens),
    )


class PostgresVaultRecordStore:
    """:class:`~orcheo_storage.protocols.vault.VaultRecordStore` on PostgreSQL."""

    def __init__(self, db: Db) -> None:
        self._db = db

    async def insert_credential(self, record: StoredCredential) -> None:
        try:
            await self._db.run(_INSERT_CRED, _cred_params(record))
        except UniqueViolation as exc:
            key = (
                record.credential.name
                if exc.constraint == "vault_credentials_name"
                else record.credential.id
            )
            raise DuplicateError("credential", key) from None

    async def replace_credential(self, record: StoredCredential) -> None:
        try:
            count = await self._db.run(_UPDATE_CRED, _cred_params(record))
        except UniqueViolation:
            raise DuplicateError("credential", record.credential.name) from None
        if count == 0:
            raise CredentialNotFoundError(record.credential.id)

    async def get_credential(self, credential_id: UUID) -> StoredCredential:
        row = await self._db.read_one(_GET_CRED, (credential_id,))
        if row is None:
            raise CredentialNotFoundError(credential_id)
        return _load_cred(row)

    async def list_credentials(self) -> list[StoredCredential]:
        return [_load_cred(r) for r in await self._db.read_all(_LIST_CREDS)]

    async def delete_credential(self, credential_id: UUID) -> None:
        async with self._db.transaction() as conn:
            cur = await conn.execute(_DELETE_CRED, (credential_id,))
            if cur.rowcount == 0:
                raise CredentialNotFoundError(credential_id)
            await conn.execute(_DELETE_CRED_ALERTS, (credential_id,))

    async def insert_template(self, template: CredentialTemplate) -> None:
        try:
            await self._db.run(TEMPLATES.insert_sql, TEMPLATES.params(template))
        except UniqueViolation:
            raise DuplicateError("credential template", template.id) from None

    async def replace_template(self, template: CredentialTemplate) -> None:
        if await self._db.run(_UPDATE_TEMPLATE, TEMPLATES.params(template)) == 0:
            raise TemplateNotFoundError(template.id)

    async def get_template(self, template_id: UUID) -> CredentialTemplate:
        row = await self._db.read_one(_GET_TEMPLATE, {"id": template_id})
        if row is None:
            raise TemplateNotFoundError(template_id)
        return TEMPLATES.load(row)

    async def list_templates(self) -> list[CredentialTemplate]:
        return [TEMPLATES.load(r) for r in await self._db.read_all(_LIST_TEMPLATES)]

    async def delete_template(self, template_id: UUID) -> None:
        async with self._db.transaction() as conn:
            cur = await conn.execute(_DELETE_TEMPLATE, (template_id,))
            if cur.rowcount == 0:
                raise TemplateNotFoundError(template_id)
            await conn.execute(_DELETE_TEMPLATE_ALERTS, (template_id,))

    async def upsert_alert(self, alert: GovernanceAlert) -> GovernanceAlert:
        try:
            row = await self._db.one(_UPSERT_ALERT, ALERTS.params(alert))
        except UniqueViolation:
            raise DuplicateError("governance alert", alert.id) from None
        assert row is not None
        return ALERTS.load(row)

    async def get_alert(self, alert_id: UUID) -> GovernanceAlert:
        row = await self._db.read_one(_GET_ALERT, {"id": alert_id})
        if row is None:
            raise AlertNotFoundError(alert_id)
        return ALERTS.load(row)

    async def replace_alert(self, alert: GovernanceAlert) -> None:
        if await self._db.run(_UPDATE_ALERT, ALERTS.params(alert)) == 0:
            raise AlertNotFoundError(alert.id)

    async def list_alerts(self, *, include_acknowledged: bool = False) -> list[GovernanceAlert]:
        rows = await self._db.read_all(_LIST_ALERTS if include_acknowledged else _LIST_OPEN_ALERTS)
        return [ALERTS.load(r) for r in rows]

    # --- key checks ----------------------------------------------------------------------------

    async def get_key_check(self, key_id: str) -> EncryptedSecret | None:
        row = await self._db.read_one(_GET_KEY_CHECK, (key_id,))
        return None if row is None else _key_check(key_id, row)

    async def add_key_check(self, key_id: str, check: EncryptedSecret) -> EncryptedSecret:
        # Two statements: the losing insert waits for the winner's commit, then a fresh
        # snapshot reads the winner's row.
        await self._db.run(_ADD_KEY_CHECK, (key_id, check.algorithm, check.ciphertext))
        row = await self._db.read_one(_GET_KEY_CHECK, (key_id,))
        assert row is not None
        return _key_check(key_id, row)


_GET_KEY_CHECK = "SELECT algorithm, ciphertext FROM vault_key_checks WHERE key_id = %s"
_ADD_KEY_CHECK = (
    "INSERT INTO vault_key_checks (key_id, algorithm, ciphertext) VALUES (%s, %s, %s) "
    "ON CONFLICT (key_id) DO NOTHING"
)


def _key_check(key_id: str, row: Mapping[str, Any]) -> EncryptedSecret:
    return EncryptedSecret(algorithm=row["algorithm"], key_id=key_id, ciphertext=row["ciphertext"])
