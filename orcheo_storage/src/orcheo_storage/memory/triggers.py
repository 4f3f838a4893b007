"""In-memory trigger store: webhook/cron/retry configs, cron dispatch and retry counters."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from orcheo_storage.clock import ensure_utc, optional_utc
from orcheo_storage.errors import CronTriggerNotFoundError
from orcheo_storage.memory._lifecycle import refuses_when_closed
from orcheo_storage.memory._state import MemoryState, copy
from orcheo_storage.memory.workflows import require_workflow
from orcheo_storage.models.triggers import CronConfig, RetryPolicy, WebhookConfig
from orcheo_storage.rules import triggers as trigger_rules


@refuses_when_closed
class MemoryTriggerStore:
    """:class:`~orcheo_storage.protocols.coordination.TriggerStore` over a session's state.

    Webhook configs are kept sealed (secrets encrypted with the session's cipher), the
    same document a persistent backend stores.
    """

    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def set_webhook_config(
        self, workflow_id: UUID, config: WebhookConfig | dict[str, Any]
    ) -> WebhookConfig:
        normalised = trigger_rules.normalise_webhook(config)
        require_workflow(self._state, workflow_id)
        sealed = trigger_rules.seal_webhook(normalised, self._state.cipher, workflow_id)
        self._state.webhooks[workflow_id] = sealed
        return trigger_rules.open_webhook(sealed, self._state.cipher, workflow_id).config

    async def get_webhook_config(self, workflow_id: UUID) -> WebhookConfig:
        sealed = self._state.webhooks.get(workflow_id)
        if sealed is None:
            return WebhookConfig()
        opened = trigger_rules.open_webhook(sealed, self._state.cipher, workflow_id)
        if opened.resealed is not None and self._state.webhooks.get(workflow_id) is sealed:
            self._state.webhooks[workflow_id] = opened.resealed  # bound from now on
        return opened.config

    async def set_cron_config(
        self, workflow_id: UUID, config: CronConfig | dict[str, Any]
    ) -> CronConfig:
        normalised = copy(trigger_rules.normalise_cron(config))
        require_workflow(self._state, workflow_id)
        self._state.crons[workflow_id] = normalised
        return copy(normalised)

    async def get_cron_config(self, workflow_id: UUID) -> CronConfig:
        config = self._state.crons.get(workflow_id)
        if config is None:
            raise CronTriggerNotFoundError(workflow_id)
        return copy(config)

    async def delete_cron_config(self, workflow_id: UUID) -> None:
        self._state.crons.pop(workflow_id, None)

    async def list_cron_configs(self) -> dict[UUID, CronConfig]:
        return {wid: copy(cfg) for wid, cfg in sorted(self._state.crons.items(), key=_by_id)}

    async def set_retry_policy(
        self, workflow_id: UUID, policy: RetryPolicy | dict[str, Any]
    ) -> RetryPolicy:
        normalised = copy(trigger_rules.normalise_retry(policy))
        require_workflow(self._state, workflow_id)
        self._state.retry_policies[workflow_id] = normalised
        return copy(normalised)

    async def get_retry_policy(self, workflow_id: UUID) -> RetryPolicy:
        policy = self._state.retry_policies.get(workflow_id)
        return RetryPolicy() if policy is None else copy(policy)

    async def get_last_dispatched(self, workflow_id: UUID) -> datetime | None:
        return self._state.cron_dispatch.get(workflow_id)

    async def advance_cron_dispatch(
        self, workflow_id: UUID, *, expected: datetime | None, new: datetime
    ) -> bool:
        expected_utc = optional_utc(expected, "expected")
        new_utc = ensure_utc(new, "new")
        current = self._state.cron_dispatch.get(workflow_id)
        if not trigger_rules.cron_slot_advances(current, expected_utc, new_utc):
            return False
        # A slot is recorded for an existing workflow only (SQLite and PostgreSQL refuse the
        # row by its foreign key).
        require_workflow(self._state, workflow_id)
        self._state.cron_dispatch[workflow_id] = new_utc
        return True

    async def increment_retry_attempt(self, run_id: UUID) -> int:
        attempts = self._state.retry_attempts.get(run_id, 0) + 1
        self._state.retry_attempts[run_id] = attempts
        return attempts

    async def get_retry_attempt(self, run_id: UUID) -> int:
        return self._state.retry_attempts.get(run_id, 0)

    async def clear_retry_attempts(self, run_id: UUID) -> None:
        self._state.retry_attempts.pop(run_id, None)


def _by_id(entry: tuple[UUID, Any]) -> str:
    return str(entry[0])
