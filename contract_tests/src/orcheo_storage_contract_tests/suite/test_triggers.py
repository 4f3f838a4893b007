"""Contract: trigger configs, cron dispatch and retry state (DOMAIN.md section 2)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule
from orcheo_storage.errors import CronTriggerNotFoundError, ValidationError, WorkflowNotFoundError
from orcheo_storage.models.triggers import CronConfig, RetryPolicy, WebhookConfig
from orcheo_storage.protocols.backend import Subsystem
from orcheo_storage.storage import Storage
from pydantic import SecretStr

from orcheo_storage_contract_tests._runner import (
    AsyncStateMachine,
    ProvisionStorage,
    run,
    run_machine,
)
from orcheo_storage_contract_tests._support import assert_utc, make_workflow, raises
from orcheo_storage_contract_tests.strategies import aware_datetimes, hostile_text

pytestmark = pytest.mark.orcheo_subsystem("triggers")

T0 = datetime(2024, 5, 1, 8, 30, 0, 123456, tzinfo=UTC)


# --- webhook -----------------------------------------------------------------------------------


async def test_webhook_default_when_never_set(storage: Storage) -> None:
    workflow = await make_workflow(storage)
    assert await storage.triggers.get_webhook_config(workflow.id) == WebhookConfig()


async def test_webhook_is_normalised_and_upserted(storage: Storage) -> None:
    workflow = await make_workflow(storage)
    saved = await storage.triggers.set_webhook_config(
        workflow.id,
        {
            "allowed_methods": ["post", " GET ", "POST", "get"],
            "required_headers": {"X-Token": "Abc"},
            "shared_secret_header": " X-Secret ",
            "shared_secret": "s3cret-value",
            "hmac_secret": "hmac-value",
            "hmac_timestamp_header": " X-Signature-Timestamp ",
            "rate_limit": {"limit": 10, "interval_seconds": 30},
        },
    )
    assert saved.allowed_methods == ["GET", "POST"]
    assert saved.hmac_timestamp_header == "x-signature-timestamp"
    assert saved.rate_limit is not None
    assert (saved.rate_limit.limit, saved.rate_limit.interval_seconds) == (10, 30)
    assert saved.required_headers == {"x-token": "Abc"}
    assert saved.shared_secret_header == "x-secret"
    assert saved.shared_secret == SecretStr("s3cret-value")
    assert saved.hmac_secret == SecretStr("hmac-value")
    assert await storage.triggers.get_webhook_config(workflow.id) == saved
    replaced = await storage.triggers.set_webhook_config(workflow.id, {"allowed_methods": ["put"]})
    assert replaced == WebhookConfig(allowed_methods=["PUT"])
    assert await storage.triggers.get_webhook_config(workflow.id) == replaced


async def test_webhook_secrets_are_not_stored_in_clear(storage: Storage) -> None:
    workflow = await make_workflow(storage)
    await storage.triggers.set_webhook_config(
        workflow.id, {"shared_secret": "plain-shared-XYZ", "hmac_secret": "plain-hmac-XYZ"}
    )
    bulk = storage.session_for(Subsystem.TRIGGERS).bulk()
    rows = [row async for batch in bulk.export_rows("webhook_triggers") for row in batch]
    assert len(rows) == 1
    text = json.dumps(rows, default=str)
    assert "plain-shared-XYZ" not in text
    assert "plain-hmac-XYZ" not in text


async def test_webhook_for_missing_workflow(storage: Storage) -> None:
    missing = uuid.uuid4()
    with raises(WorkflowNotFoundError, f"workflow not found: {missing}"):
        await storage.triggers.set_webhook_config(missing, {"allowed_methods": ["POST"]})


# --- cron config -------------------------------------------------------------------------------


async def test_cron_config_lifecycle(storage: Storage) -> None:
    workflow = await make_workflow(storage)
    other = await make_workflow(storage, name="Other")
    with raises(CronTriggerNotFoundError, f"cron trigger not found: {workflow.id}"):
        await storage.triggers.get_cron_config(workflow.id)
    saved = await storage.triggers.set_cron_config(
        workflow.id,
        {
            "expression": "  */5   *  * * * ",
            "timezone": "Europe/Paris",
            "allow_overlapping": True,
            "start_at": datetime(2024, 1, 1, 9, 0, 0, 7, tzinfo=timezone(timedelta(hours=2))),
        },
    )
    assert saved.expression == "*/5 * * * *"
    assert saved.start_at == datetime(2024, 1, 1, 7, 0, 0, 7, tzinfo=UTC)
    assert_utc(saved.start_at)
    assert await storage.triggers.get_cron_config(workflow.id) == saved
    await storage.triggers.set_cron_config(other.id, CronConfig(expression="0 0 * * *"))
    listed = await storage.triggers.list_cron_configs()
    assert set(listed) == {workflow.id, other.id}
    assert listed[workflow.id] == saved
    await storage.triggers.delete_cron_config(workflow.id)
    await storage.triggers.delete_cron_config(workflow.id)  # idempotent
    with raises(CronTriggerNotFoundError, f"cron trigger not found: {workflow.id}"):
        await storage.triggers.get_cron_config(workflow.id)
    assert set(await storage.triggers.list_cron_configs()) == {other.id}


async def test_cron_config_rejects_empty_expression(storage: Storage) -> None:
    workflow = await make_workflow(storage)
    with raises(ValidationError, "expression: cron expression must not be empty"):
        await storage.triggers.set_cron_config(workflow.id, {"expression": "   "})
    assert await storage.triggers.list_cron_configs() == {}


# --- retry policy and attempts -----------------------------------------------------------------


async def test_retry_policy_default_and_upsert(storage: Storage) -> None:
    workflow = await make_workflow(storage)
    assert await storage.triggers.get_retry_policy(workflow.id) == RetryPolicy()
    saved = await storage.triggers.set_retry_policy(
        workflow.id, {"max_attempts": 7, "initial_delay_seconds": 0.25}
    )
    assert saved.max_attempts == 7
    assert await storage.triggers.get_retry_policy(workflow.id) == saved
    with pytest.raises(ValidationError, match="max_attempts"):
        await storage.triggers.set_retry_policy(workflow.id, {"max_attempts": 0})
    assert await storage.triggers.get_retry_policy(workflow.id) == saved


async def test_retry_attempts_count_and_clear(storage: Storage) -> None:
    run_id = uuid.uuid4()
    assert await storage.triggers.get_retry_attempt(run_id) == 0
    assert [await storage.triggers.increment_retry_attempt(run_id) for _ in range(3)] == [1, 2, 3]
    assert await storage.triggers.get_retry_attempt(run_id) == 3
    await storage.triggers.clear_retry_attempts(run_id)
    assert await storage.triggers.get_retry_attempt(run_id) == 0


async def test_concurrent_retry_increments_lose_nothing(storage: Storage) -> None:
    run_id = uuid.uuid4()
    results = await asyncio.gather(
        *(storage.triggers.increment_retry_attempt(run_id) for _ in range(25))
    )
    assert sorted(results) == list(range(1, 26))
    assert await storage.triggers.get_retry_attempt(run_id) == 25


# --- cron dispatch compare-and-set ---------------------------------------------------------------


async def test_cron_dispatch_compare_and_set(storage: Storage) -> None:
    workflow = await make_workflow(storage)
    triggers = storage.triggers
    assert await triggers.get_last_dispatched(workflow.id) is None
    assert await triggers.advance_cron_dispatch(workflow.id, expected=None, new=T0) is True
    assert await triggers.advance_cron_dispatch(workflow.id, expected=None, new=T0) is False
    later = T0 + timedelta(minutes=5)
    stale = T0 - timedelta(minutes=5)
    assert await triggers.advance_cron_dispatch(workflow.id, expected=stale, new=later) is False
    assert await triggers.advance_cron_dispatch(workflow.id, expected=T0, new=stale) is False
    assert await triggers.advance_cron_dispatch(workflow.id, expected=T0, new=T0) is False
    assert await triggers.advance_cron_dispatch(workflow.id, expected=T0, new=later) is True
    stored = await triggers.get_last_dispatched(workflow.id)
    assert stored == later
    assert assert_utc(stored).microsecond == 123456


async def test_cron_dispatch_of_an_unknown_workflow_records_nothing(storage: Storage) -> None:
    """A first slot needs the workflow (SQLite and PostgreSQL hold it by a foreign key); a
    compare-and-set against a slot never recorded is simply lost."""
    unknown = uuid.uuid4()
    with raises(WorkflowNotFoundError, f"workflow not found: {unknown}"):
        await storage.triggers.advance_cron_dispatch(unknown, expected=None, new=T0)
    assert (
        await storage.triggers.advance_cron_dispatch(
            unknown, expected=T0, new=T0 + timedelta(minutes=5)
        )
        is False
    )
    assert await storage.triggers.get_last_dispatched(unknown) is None


async def test_cron_dispatch_reads_offsets_and_naive_times_as_utc(storage: Storage) -> None:
    workflow = await make_workflow(storage)
    paris = datetime(2024, 5, 1, 10, 30, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert await storage.triggers.advance_cron_dispatch(workflow.id, expected=None, new=paris)
    stored = await storage.triggers.get_last_dispatched(workflow.id)
    assert stored == T0
    assert assert_utc(stored).hour == 8
    naive_next = datetime(2024, 5, 1, 8, 35, 0, 1)
    assert await storage.triggers.advance_cron_dispatch(
        workflow.id, expected=T0.replace(tzinfo=None), new=naive_next
    )
    assert await storage.triggers.get_last_dispatched(workflow.id) == naive_next.replace(tzinfo=UTC)


async def test_racing_schedulers_dispatch_a_slot_once(storage: Storage) -> None:
    workflow = await make_workflow(storage)
    slot = T0 + timedelta(minutes=1)
    results = await asyncio.gather(
        *(
            storage.triggers.advance_cron_dispatch(workflow.id, expected=None, new=slot)
            for _ in range(10)
        )
    )
    assert results.count(True) == 1
    assert await storage.triggers.get_last_dispatched(workflow.id) == slot


# --- properties --------------------------------------------------------------------------------


@given(when=aware_datetimes)
def test_dispatch_time_round_trips_to_the_microsecond(
    provision_storage: ProvisionStorage, when: datetime
) -> None:
    async def body() -> None:
        async with provision_storage() as storage:
            workflow = await make_workflow(storage)
            assert await storage.triggers.advance_cron_dispatch(
                workflow.id, expected=None, new=when
            )
            stored = await storage.triggers.get_last_dispatched(workflow.id)
            assert stored == when
            assert assert_utc(stored) == when.astimezone(UTC)
            assert stored.microsecond == when.astimezone(UTC).microsecond

    run(body())


@given(bad=hostile_text(), field=st.sampled_from(["expression", "timezone"]))
def test_hostile_cron_config_is_rejected_and_nothing_written(
    provision_storage: ProvisionStorage, bad: str, field: str
) -> None:
    async def body() -> None:
        async with provision_storage() as storage:
            workflow = await make_workflow(storage)
            config: dict[str, Any] = {"expression": "* * * * *", field: f"x{bad}"}
            with pytest.raises(ValidationError, match=r"(NUL characters|lone surrogates)"):
                await storage.triggers.set_cron_config(workflow.id, config)
            assert await storage.triggers.list_cron_configs() == {}

    run(body())


# --- state machine -----------------------------------------------------------------------------


class CronDispatchMachine(AsyncStateMachine):
    """Several schedulers advance one workflow's slot with possibly stale expectations.

    Model: the last dispatched slot; the compare-and-set must succeed exactly when the
    expectation is current and the new slot is later.
    """

    def __init__(self, provision: ProvisionStorage) -> None:
        super().__init__(provision)
        self.workflow = self.call(make_workflow(self.storage))
        self.current: datetime | None = None
        self.seen: list[datetime] = []
        self.dispatched: list[datetime] = []

    @rule(
        use_current=st.booleans(),
        minutes=st.integers(min_value=-3, max_value=5),
        micro=st.integers(0, 999_999),
    )
    def advance(self, use_current: bool, minutes: int, micro: int) -> None:
        expected = self.current if use_current else (self.seen[0] if self.seen else T0)
        base = self.current or T0
        new = base + timedelta(minutes=minutes, microseconds=micro)
        won = self.call(
            self.storage.triggers.advance_cron_dispatch(
                self.workflow.id, expected=expected, new=new
            )
        )
        should = expected == self.current and (self.current is None or new > self.current)
        assert won == should
        if won:
            self.current = new
            self.seen.append(new)
            self.dispatched.append(new)

    @invariant()
    def slot_matches_model(self) -> None:
        stored = self.call(self.storage.triggers.get_last_dispatched(self.workflow.id))
        assert stored == self.current
        assert self.dispatched == sorted(set(self.dispatched)), "a slot went backwards or twice"


def test_cron_dispatch_state_machine(provision_storage: ProvisionStorage) -> None:
    run_machine(CronDispatchMachine, provision_storage)
