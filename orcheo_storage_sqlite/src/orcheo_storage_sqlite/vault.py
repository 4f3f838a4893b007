"""The SQLite vault record store. It only ever holds ciphertext (encryption is in core)."""

from __future__ import annotations

import sqlite3
from typing import Any
from uuid import UUID

from orcheo_storage.clock import utcnow
from orcheo_storage.errors import (
    AlertNotFoundError,
    CredentialNotFoundError,
    DuplicateError,
    TemplateNotFoundError,
)
from orcheo_storage.models.vault import (
    Credential,
    CredentialTemplate,
    EncryptedSecret,
    GovernanceAlert,
    StoredCredential,
)
from orcheo_storage.rules.alerts import merge_open_alert
from orcheo_storage.trusted import construct

from orcheo_storage_sqlite.codec import TableMap, jdump, jdump_opt, jload, ts
from orcheo_storage_sqlite.engine import Database
from orcheo_storage_sqlite.tables import ALERTS, TEMPLATES

CREDENTIAL_FIELDS = TableMap(
    "vault_credentials",
    Credential,
    [
        ("id", "uuid"),
        ("name", "text"),
        ("provider", "text"),
        ("scopes", "json"),
        ("access", "json"),
        ("kind", "enum"),
        ("template_id", "uuid"),
        ("health_status", "enum"),
        ("health_reason", "text"),
        ("oauth_expires_at", "ts"),
        ("created_at", "ts"),
        ("updated_at", "ts"),
        ("audit_log", "json"),
        ("last_rotated_at", "ts"),
        ("health_checked_at", "ts"),
    ],
)
_COLS = (*CREDENTIAL_FIELDS.names, "name_key", "secret", "oauth_tokens")
_SELECT = f"SELECT {', '.join(_COLS)} FROM vault_credentials"
_INSERT = (
    f"INSERT INTO vault_credentials ({', '.join(_COLS)}) VALUES ({', '.join('?' for _ in _COLS)})"
)
_UPDATE = (
    "UPDATE vault_credentials SET " + ", ".join(f"{c} = ?" for c in _COLS[1:]) + " WHERE id = ?"
)
_OPEN_ALERT = """kind = ? AND ifnull(credential_id, '') = ? AND ifnull(template_id, '') = ?
AND acknowledged = 0"""


def name_key(name: str) -> str:
    """The case-insensitive uniqueness key of a credential name."""
    return name.lower()


def _credential_params(record: StoredCredential) -> tuple[Any, ...]:
    return (
        *CREDENTIAL_FIELDS.params(record.credential),
        name_key(record.credential.name),
        jdump(record.secret),
        jdump_opt(record.oauth_tokens),
    )


def _load_credential(row: tuple[Any, ...]) -> StoredCredential:
    n = len(CREDENTIAL_FIELDS.names)
    credential = CREDENTIAL_FIELDS.load(row[:n])
    oauth = jload(row[n + 2])
    # Trusted rows (validated when written): rebuilt without re-validation, as every table.
    return StoredCredential.model_construct(
        credential=credential,
        secret=construct(EncryptedSecret, jload(row[n + 1])),
        oauth_tokens=None if oauth is None else construct(EncryptedSecret, oauth),
    )


def _credential_conflict(exc: sqlite3.IntegrityError, record: StoredCredential) -> DuplicateError:
    if "name_key" in str(exc):
        return DuplicateError("credential name", record.credential.name)
    return DuplicateError("credential", record.credential.id)


class SqliteVaultRecordStore:
    """:class:`~orcheo_storage.protocols.vault.VaultRecordStore` on the vault file."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # --- credentials ---------------------------------------------------------------------------

    async def insert_credential(self, record: StoredCredential) -> None:
        params = _credential_params(record)

        def job(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(_INSERT, params)
            except sqlite3.IntegrityError as exc:
                raise _credential_conflict(exc, record) from None

        await self._db.write(job)

    async def replace_credential(self, record: StoredCredential) -> None:
        params = _credential_params(record)
        args = (*params[1:], params[0])

        def job(conn: sqlite3.Connection) -> None:
            try:
                changed = conn.execute(_UPDATE, args).rowcount
            except sqlite3.IntegrityError as exc:
                raise _credential_conflict(exc, record) from None
            if changed == 0:
                raise CredentialNotFoundError(record.credential.id)

        await self._db.write(job)

    async def get_credential(self, credential_id: UUID) -> StoredCredential:
        row = await self._db.read(
            lambda conn: conn.execute(f"{_SELECT} WHERE id = ?", (str(credential_id),)).fetchone()
        )
        if row is None:
            raise CredentialNotFoundError(credential_id)
        return _load_credential(row)

    async def list_credentials(self) -> list[StoredCredential]:
        def job(conn: sqlite3.Connection) -> list[StoredCredential]:
            rows = conn.execute(f"{_SELECT} ORDER BY created_at, id").fetchall()
            return [_load_credential(r) for r in rows]

        return await self._db.read(job)

    async def delete_credential(self, credential_id: UUID) -> None:
        def job(conn: sqlite3.Connection) -> None:
            key = str(credential_id)
            if conn.execute("DELETE FROM vault_credentials WHERE id = ?", (key,)).rowcount == 0:
                raise CredentialNotFoundError(credential_id)
            conn.execute("DELETE FROM vault_alerts WHERE credential_id = ?", (key,))

        await self._db.write(job)

    # --- templates -----------------------------------------------------------------------------

    async def insert_template(self, template: CredentialTemplate) -> None:
        params = TEMPLATES.params(template)

        def job(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(TEMPLATES.insert, params)
            except sqlite3.IntegrityError:
                raise DuplicateError("credential template", template.id) from None

        await self._db.write(job)

    async def replace_template(self, template: CredentialTemplate) -> None:
        def job(conn: sqlite3.Connection) -> None:
            if TEMPLATES.update_row(conn, template) == 0:
                raise TemplateNotFoundError(template.id)

        await self._db.write(job)

    async def get_template(self, template_id: UUID) -> CredentialTemplate:
        template = await self._db.read(
            lambda conn: TEMPLATES.fetch_one(conn, "id = ?", (str(template_id),))
        )
        if template is None:
            raise TemplateNotFoundError(template_id)
        return template

    async def list_templates(self) -> list[CredentialTemplate]:
        return await self._db.read(
            lambda conn: TEMPLATES.fetch_all(conn, "ORDER BY created_at, id")
        )

    async def delete_template(self, template_id: UUID) -> None:
        def job(conn: sqlite3.Connection) -> None:
            key = str(template_id)
            if conn.execute("DELETE FROM vault_templates WHERE id = ?", (key,)).rowcount == 0:
                raise TemplateNotFoundError(template_id)
            conn.execute("DELETE FROM vault_alerts WHERE template_id = ?", (key,))

        await self._db.write(job)

    # --- alerts --------------------------------------------------------------------------------

    async def upsert_alert(self, alert: GovernanceAlert) -> GovernanceAlert:
        def job(conn: sqlite3.Connection) -> GovernanceAlert:
            # Under the write lock; the partial unique index backs it up across processes.
            existing = ALERTS.fetch_one(
                conn,
                _OPEN_ALERT,
                (
                    alert.kind,
                    str(alert.credential_id) if alert.credential_id else "",
                    str(alert.template_id) if alert.template_id else "",
                ),
            )
            if existing is None:
                ALERTS.insert_row(conn, alert)
                return alert
            merged = merge_open_alert(existing, alert)
            ALERTS.update_row(conn, merged)
            return merged

        return await self._db.write(job)

    async def get_alert(self, alert_id: UUID) -> GovernanceAlert:
        alert = await self._db.read(lambda conn: ALERTS.fetch_one(conn, "id = ?", (str(alert_id),)))
        if alert is None:
            raise AlertNotFoundError(alert_id)
        return alert

    async def replace_alert(self, alert: GovernanceAlert) -> None:
        def job(conn: sqlite3.Connection) -> None:
            if ALERTS.update_row(conn, alert) == 0:
                raise AlertNotFoundError(alert.id)

        await self._db.write(job)

    async def list_alerts(self, *, include_acknowledged: bool = False) -> list[GovernanceAlert]:
        tail = "ORDER BY created_at DESC, id DESC"
        if not include_acknowledged:
            tail = f"WHERE acknowledged = 0 {tail}"
        return await self._db.read(lambda conn: ALERTS.fetch_all(conn, tail))

    # --- key checks ----------------------------------------------------------------------------

    async def get_key_check(self, key_id: str) -> EncryptedSecret | None:
        def job(conn: sqlite3.Connection) -> EncryptedSecret | None:
            row = conn.execute(_GET_KEY_CHECK, (key_id,)).fetchone()
            return None if row is None else _key_check(key_id, row)

        return await self._db.read(job)

    async def add_key_check(self, key_id: str, check: EncryptedSecret) -> EncryptedSecret:
        def job(conn: sqlite3.Connection) -> EncryptedSecret:
            conn.execute(_ADD_KEY_CHECK, (key_id, check.algorithm, check.ciphertext, ts(utcnow())))
            return _key_check(key_id, conn.execute(_GET_KEY_CHECK, (key_id,)).fetchone())

        return await self._db.write(job)


_GET_KEY_CHECK = "SELECT algorithm, ciphertext FROM vault_key_checks WHERE key_id = ?"
_ADD_KEY_CHECK = (
    "INSERT INTO vault_key_checks (key_id, algorithm, ciphertext, created_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (key_id) DO NOTHING"
)


def _key_check(key_id: str, row: Any) -> EncryptedSecret:
    return EncryptedSecret(algorithm=row[0], key_id=key_id, ciphertext=row[1])
