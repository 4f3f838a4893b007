"""The SQLite trigger store: webhook/cron/retry configs, cron dispatch and retry counters."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any
from uuid import UUID

from orcheo_storage.clock import ensure_utc, optional_utc, utcnow
from orcheo_storage.crypto import VaultCipher
from orcheo_storage.errors import CronTriggerNotFoundError
from orcheo_storage.jsoncodec import dumps
from orcheo_storage.models.triggers import CronConfig, RetryPolicy, WebhookConfig
from orcheo_storage.rules import triggers as trigger_rules

from orcheo_storage_sqlite._shared import require_workflow
from orcheo_storage_sqlite.codec import from_ts_opt, jload, ts, ts_opt
from orcheo_storage_sqlite.engine import Database
from orcheo_storage_sqlite.tables import CRON, RETRY

_UPSERT_WEBHOOK = """INSERT INTO webhook_triggers (workflow_id, config, updated_at) VALUES (?, ?, ?)
ON CONFLICT (workflow_id) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at"""
_GET_WEBHOOK = "SELECT config FROM webhook_triggers WHERE workflow_id = ?"
_RESEAL_WEBHOOK = "UPDATE webhook_triggers SET config = ? WHERE workflow_id = ? AND config = ?"
_UPSERT_CRON = """INSERT OR REPLACE INTO cron_triggers
(workflow_id, expression, timezone, allow_overlapping, start_at, end_at) VALUES (?, ?, ?, ?, ?, ?)"""
_UPSERT_RETRY = """INSERT OR REPLACE INTO retry_policies (workflow_id, max_attempts,
initial_delay_seconds, backoff_factor, max_delay_seconds, jitter_factor) VALUES (?, ?, ?, ?, ?, ?)"""
_LIST_CRON = f"SELECT workflow_id, {', '.join(CRON.names)} FROM cron_triggers ORDER BY workflow_id"
_GET_DISPATCH = "SELECT last_dispatched_at FROM cron_dispatch WHERE workflow_id = ?"
_SET_DISPATCH = """INSERT INTO cron_dispatch (workflow_id, last_dispatched_at) VALUES (?, ?)
ON CONFLICT (workflow_id) DO UPDATE SET last_dispatched_at = excluded.last_dispatched_at"""
_INCREMENT = """INSERT INTO retry_attempts (run_id, attempts) VALUES (?, 1)
ON CONFLICT (run_id) DO UPDATE SET attempts = attempts + 1 RETURNING attempts"""


class SqliteTriggerStore:
    """:class:`~orcheo_storage.protocols.coordination.TriggerStore` on the repository file.

    Webhook secrets are sealed with the vault cipher before they reach the database.
    """

    def __init__(self, db: Database, cipher: VaultCipher) -> None:
        self._db = db
        self._cipher = cipher

    async def set_webhook_config(
        self, workflow_id: UUID, config: WebhookConfig | dict[str, Any]
    ) -> WebhookConfig:
        normalised = trigger_rules.normalise_webhook(config)
        sealed = trigger_rules.seal_webhook(normalised, self._cipher, workflow_id)
        text = dumps(sealed)

        def job(conn: sqlite3.Connection) -> None:
            require_workflow(conn, workflow_id)
            conn.execute(_UPSERT_WEBHOOK, (str(workflow_id), text, ts(utcnow())))

        await self._db.write(job)
        return trigger_rules.open_webhook(sealed, self._cipher, workflow_id).config

    async def get_webhook_config(self, workflow_id: UUID) -> WebhookConfig:
        row = await self._db.read(
            lambda conn: conn.execute(_GET_WEBHOOK, (str(workflow_id),)).fetchone()
        )
        if row is None:
            return WebhookConfig()
        opened = trigger_rules.open_webhook(jload(row[0]), self._cipher, workflow_id)
        if opened.resealed is not None:  # bound from now on, unless it changed meanwhile
            params = (dumps(opened.resealed), str(workflow_id), row[0])
            await self._db.write(lambda conn: conn.execute(_RESEAL_WEBHOOK, params).rowcount)
        return opened.config

    async def set_cron_config(
        self, workflow_id: UUID, config: CronConfig | dict[str, Any]
    ) -> CronConfig:
        normalised = trigger_rules.normalise_cron(config)
        params = (str(workflow_id), *CRON.params(normalised))

        def job(conn: sqlite3.Connection) -> None:
            require_workflow(conn, workflow_id)
            conn.execute(_UPSERT_CRON, params)

        await self._db.write(job)
        return normalised

    async def get_cron_config(self, workflow_id: UUID) -> CronConfig:
        config = await self._db.read(
            lambda conn: CRON.fetch_one(conn, "workflow_id = ?", (str(workflow_id),))
        )
        if config is None:
            raise CronTriggerNotFoundError(workflow_id)
        return config

    async def delete_cron_config(self, workflow_id: UUID) -> None:
        await self._db.write(
            lambda conn: conn.execute(
                "DELETE FROM cron_triggers WHERE workflow_id = ?", (str(workflow_id),)
            )
        )

    async def list_cron_configs(self) -> dict[UUID, CronConfig]:
        rows = await self._db.read(lambda conn: conn.execute(_LIST_CRON).fetchall())
        return {UUID(row[0]): CRON.load(row[1:]) for row in rows}

    async def set_retry_policy(
        self, workflow_id: UUID, policy: RetryPolicy | dict[str, Any]
    ) -> RetryPolicy:
        normalised = trigger_rules.normalise_retry(policy)
        params = (str(workflow_id), *RETRY.params(normalised))

        def job(conn: sqlite3.Connection) -> None:
            require_workflow(conn, workflow_id)
            conn.execute(_UPSERT_RETRY, params)

        await self._db.write(job)
        return normalised

    async def get_retry_policy(self, workflow_id: UUID) -> RetryPolicy:
        policy = await self._db.read(
            lambda conn: RETRY.fetch_one(conn, "workflow_id = ?", (str(workflow_id),))
        )
        return RetryPolicy() if policy is None else policy

    async def get_last_dispatched(self, workflow_id: UUID) -> datetime | None:
        row = await self._db.read(
            lambda conn: conn.execute(_GET_DISPATCH, (str(workflow_id),)).fetchone()
        )
        return None if row is None else from_ts_opt(row[0])

    async def advance_cron_dispatch(
        self, workflow_id: UUID, *, expected: datetime | None, new: datetime
    ) -> bool:
        expected_utc = optional_utc(expected, "expected")
        new_utc = ensure_utc(new, "new")

        def job(conn: sqlite3.Connection) -> bool:
            # Compare-and-set under the write lock: one racing scheduler wins.
            row = conn.execute(_GET_DISPATCH, (str(workflow_id),)).fetchone()
            current = None if row is None else from_ts_opt(row[0])
            if not trigger_rules.cron_slot_advances(current, expected_utc, new_utc):
                return False
            require_workflow(conn, workflow_id)
            conn.execute(_SET_DISPATCH, (str(workflow_id), ts_opt(new_utc)))
            return True

        return await self._db.write(job)

    async def increment_retry_attempt(self, run_id: UUID) -> int:
        row = await self._db.write(lambda conn: conn.execute(_INCREMENT, (str(run_id),)).fetchone())
        return int(row[0])

    async def get_retry_attempt(self, run_id: UUID) -> int:
        row = await self._db.read(
            lambda conn: conn.execute(
                "SELECT attempts FROM retry_attempts WHERE run_id = ?", (str(run_id),)
            ).fetchone()
        )
        return 0 if row is None else int(row[0])

    async def clear_retry_attempts(self, run_id: UUID) -> None:
        await self._db.write(
            lambda conn: conn.execute("DELETE FROM retry_attempts WHERE run_id = ?", (str(run_id),))
        )
