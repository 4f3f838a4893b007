"""Trigger configs, cron dispatch slots and retry counters on PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from orcheo_storage.crypto import VaultCipher
from orcheo_storage.errors import CronTriggerNotFoundError, WorkflowNotFoundError
from orcheo_storage.models.triggers import CronConfig, RetryPolicy, WebhookConfig
from orcheo_storage.rules import triggers as rules

from orcheo_storage_postgres._db import Db
from orcheo_storage_postgres._errors import ForeignKeyViolation
from orcheo_storage_postgres._rows import jsonb

_UPSERT = {
    table: f"INSERT INTO {table} (workflow_id, {col}) VALUES (%s, %s) "
    f"ON CONFLICT (workflow_id) DO UPDATE SET {col} = excluded.{col}"
    for table, col in (
        ("webhook_triggers", "config"),
        ("cron_triggers", "config"),
        ("retry_policies", "policy"),
    )
}
_GET_WEBHOOK = "SELECT config FROM webhook_triggers WHERE workflow_id = %s"
_RESEAL_WEBHOOK = "UPDATE webhook_triggers SET config = %s WHERE workflow_id = %s AND config = %s"
_GET_CRON = "SELECT config FROM cron_triggers WHERE workflow_id = %s"
_LIST_CRON = "SELECT workflow_id, config FROM cron_triggers ORDER BY workflow_id"
_DELETE_CRON = "DELETE FROM cron_triggers WHERE workflow_id = %s"
_GET_RETRY = "SELECT policy FROM retry_policies WHERE workflow_id = %s"
_GET_DISPATCH = "SELECT last_dispatched_at FROM cron_dispatch WHERE workflow_id = %s"
# Compare-and-set: the first slot is an insert that loses to any concurrent insert; later
# slots advance only from the expected value and only forwards.
_DISPATCH_FIRST = (
    "INSERT INTO cron_dispatch (workflow_id, last_dispatched_at) VALUES (%s, %s) "
    "ON CONFLICT (workflow_id) DO NOTHING RETURNING workflow_id"
)
_DISPATCH_NEXT = (
    "UPDATE cron_dispatch SET last_dispatched_at = %(new)s WHERE workflow_id = %(wf)s "
    "AND last_dispatched_at = %(expected)s AND %(new)s > last_dispatched_at RETURNING workflow_id"
)
_INCREMENT = (
    "INSERT INTO retry_attempts (run_id, attempts) VALUES (%s, 1) ON CONFLICT (run_id) "
    "DO UPDATE SET attempts = retry_attempts.attempts + 1 RETURNING attempts"
)
_GET_ATTEMPTS = "SELECT attempts FROM retry_attempts WHERE run_id = %s"
_CLEAR_ATTEMPTS = "DELETE FROM retry_attempts WHERE run_id = %s"


class PostgresTriggerStore:
    """:class:`~orcheo_storage.protocols.coordination.TriggerStore` on PostgreSQL."""

    def __init__(self, db: Db, cipher: VaultCipher) -> None:
        self._db = db
        self._cipher = cipher

    async def _upsert(self, table: str, workflow_id: UUID, doc: Any) -> None:
        try:
            await self._db.run(_UPSERT[table], (workflow_id, jsonb(doc)))
        except ForeignKeyViolation:
            raise WorkflowNotFoundError(workflow_id) from None

    async def set_webhook_config(
        self, workflow_id: UUID, config: WebhookConfig | dict[str, Any]
    ) -> WebhookConfig:
        clean = rules.normalise_webhook(config)
        sealed = rules.seal_webhook(clean, self._cipher, workflow_id)
        await self._upsert("webhook_triggers", workflow_id, sealed)
        return clean

    async def get_webhook_config(self, workflow_id: UUID) -> WebhookConfig:
        row = await self._db.read_one(_GET_WEBHOOK, (workflow_id,))
        if row is None:
            return rules.normalise_webhook({})
        opened = rules.open_webhook(row["config"], self._cipher, workflow_id)
        if opened.resealed is not None:  # bound from now on, unless it changed meanwhile
            await self._db.run(
                _RESEAL_WEBHOOK, (jsonb(opened.resealed), workflow_id, jsonb(row["config"]))
            )
        return opened.config

    async def set_cron_config(
        self, workflow_id: UUID, config: CronConfig | dict[str, Any]
    ) -> CronConfig:
        clean = rules.normalise_cron(config)
        await self._upsert("cron_triggers", workflow_id, clean)
        return clean

    async def get_cron_config(self, workflow_id: UUID) -> CronConfig:
        row = await self._db.read_one(_GET_CRON, (workflow_id,))
        if row is None:
            raise CronTriggerNotFoundError(workflow_id)
        return CronConfig.model_validate(row["config"])

    async def delete_cron_config(self, workflow_id: UUID) -> None:
        await self._db.run(_DELETE_CRON, (workflow_id,))

    async def list_cron_configs(self) -> dict[UUID, CronConfig]:
        rows = await self._db.read_all(_LIST_CRON)
        return {r["workflow_id"]: CronConfig.model_validate(r["config"]) for r in rows}

    async def set_retry_policy(
        self, workflow_id: UUID, policy: RetryPolicy | dict[str, Any]
    ) -> RetryPolicy:
        clean = rules.normalise_retry(policy)
        await self._upsert("retry_policies", workflow_id, clean)
        return clean

    async def get_retry_policy(self, workflow_id: UUID) -> RetryPolicy:
        row = await self._db.read_one(_GET_RETRY, (workflow_id,))
        return RetryPolicy() if row is None else RetryPolicy.model_validate(row["policy"])

    async def get_last_dispatched(self, workflow_id: UUID) -> datetime | None:
        row = await self._db.read_one(_GET_DISPATCH, (workflow_id,))
        return None if row is None else row["last_dispatched_at"]

    async def advance_cron_dispatch(
        self, workflow_id: UUID, *, expected: datetime | None, new: datetime
    ) -> bool:
        try:
            if expected is None:
                row = await self._db.one(_DISPATCH_FIRST, (workflow_id, new))
            else:
                row = await self._db.one(
                    _DISPATCH_NEXT, {"wf": workflow_id, "expected": expected, "new": new}
                )
        except ForeignKeyViolation:
            raise WorkflowNotFoundError(workflow_id) from None
        return row is not None

    async def increment_retry_attempt(self, run_id: UUID) -> int:
        row = await self._db.one(_INCREMENT, (run_id,))
        assert row is not None
        return int(row["attempts"])

    async def get_retry_attempt(self, run_id: UUID) -> int:
        row = await self._db.read_one(_GET_ATTEMPTS, (run_id,))
        return 0 if row is None else int(row["attempts"])

    async def clear_retry_attempts(self, run_id: UUID) -> None:
        await self._db.run(_CLEAR_ATTEMPTS, (run_id,))
