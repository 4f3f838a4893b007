"""Contract: trigger configs, cron dispatch and retry counters against a model, per workflow.

Three workflows and several runs at once, so a config written to or read from another
workflow, a dispatch slot compared to the millisecond or a retry counter shared between
runs shows; dispatch slots one microsecond apart; configs in every case and spacing.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule
from orcheo_storage.errors import CronTriggerNotFoundError

from orcheo_storage_contract_tests._runner import (
    MODEL_STEPS,
    SUITE_T0,
    ClockedStateMachine,
    ProvisionStorage,
    run_machine,
)
from orcheo_storage_contract_tests.observation import assert_same

pytestmark = pytest.mark.orcheo_subsystem("triggers")

SLOTS = [SUITE_T0 + timedelta(microseconds=n) for n in (0, 1, 2, 1000)]
"""Dispatch slots a microsecond apart (and one a millisecond on)."""
DEFAULT_WEBHOOK: dict[str, Any] = {
    "allowed_methods": ["POST"],
    "required_headers": {},
    "required_query_params": {},
    "shared_secret_header": None,
    "shared_secret": None,
    "hmac_header": None,
    "hmac_secret": None,
    "hmac_algorithm": "sha256",
    "hmac_timestamp_header": None,
    "hmac_tolerance_seconds": 300,
    "rate_limit": None,
}
DEFAULT_RETRY: dict[str, Any] = {
    "max_attempts": 3,
    "initial_delay_seconds": 1.0,
    "backoff_factor": 2.0,
    "max_delay_seconds": 300.0,
    "jitter_factor": 0.1,
}


class TriggersMachine(ClockedStateMachine):
    def __init__(self, provision: ProvisionStorage) -> None:
        super().__init__(provision)
        self.workflows: list[uuid.UUID] = []
        self.runs: list[uuid.UUID] = []
        for n in range(3):
            workflow = self.call(self.storage.workflows.create_workflow(name=f"T{n}", actor="m"))
            version = self.call(
                self.storage.workflows.create_version(workflow.id, graph={}, created_by="m")
            )
            self.workflows.append(workflow.id)
            run = self.call(
                self.storage.workflows.create_run(
                    workflow.id, workflow_version_id=version.id, triggered_by="m"
                )
            )
            self.runs.append(run.id)
        self.webhooks: dict[uuid.UUID, dict[str, Any]] = {}
        self.crons: dict[uuid.UUID, dict[str, Any]] = {}
        self.retries: dict[uuid.UUID, dict[str, Any]] = {}
        self.dispatched: dict[uuid.UUID, datetime] = {}
        self.attempts: dict[uuid.UUID, int] = {}

    @property
    def store(self) -> Any:
        return self.storage.triggers

    @rule(
        data=st.data(),
        methods=st.sampled_from([["get", " Post ", "POST"], ["put"]]),
        header=st.sampled_from(["X-Key", "x-key "]),
    )
    def set_webhook(self, data: st.DataObject, methods: list[str], header: str) -> None:
        wid = data.draw(st.sampled_from(self.workflows))
        limit = data.draw(st.sampled_from([None, {"limit": 5, "interval_seconds": 30}]))
        extra: dict[str, Any] = {} if limit is None else {"rate_limit": limit}
        got = self.call(
            self.store.set_webhook_config(
                wid, {"allowed_methods": methods, "required_headers": {header: "v"}, **extra}
            )
        )
        expected = {
            **DEFAULT_WEBHOOK,
            "allowed_methods": sorted({m.strip().upper() for m in methods}),
            "required_headers": {header.strip().lower(): "v"},
            "rate_limit": limit,
        }
        assert_same(got, expected, "set_webhook_config's result")
        self.webhooks[wid] = expected

    @rule(
        data=st.data(),
        expression=st.sampled_from(["*/5  * * * *", "0 9 * * MON"]),
        overlap=st.booleans(),
    )
    def set_cron(self, data: st.DataObject, expression: str, overlap: bool) -> None:
        wid = data.draw(st.sampled_from(self.workflows))
        got = self.call(
            self.store.set_cron_config(
                wid, {"expression": expression, "allow_overlapping": overlap}
            )
        )
        expected = {
            "expression": " ".join(expression.split()),
            "timezone": "UTC",
            "allow_overlapping": overlap,
            "start_at": None,
            "end_at": None,
        }
        assert_same(got, expected, "set_cron_config's result")
        self.crons[wid] = expected

    @rule(data=st.data())
    def delete_cron(self, data: st.DataObject) -> None:
        wid = data.draw(st.sampled_from(self.workflows))
        self.call(self.store.delete_cron_config(wid))
        self.crons.pop(wid, None)

    @rule(data=st.data(), attempts=st.integers(1, 9), delay=st.sampled_from([2.0, 0.5]))
    def set_retry(self, data: st.DataObject, attempts: int, delay: float) -> None:
        wid = data.draw(st.sampled_from(self.workflows))
        uncapped = data.draw(st.booleans())
        extra: dict[str, Any] = {"max_delay_seconds": None} if uncapped else {}
        got = self.call(
            self.store.set_retry_policy(
                wid, {"max_attempts": attempts, "initial_delay_seconds": delay, **extra}
            )
        )
        expected = {
            **DEFAULT_RETRY,
            "max_attempts": attempts,
            "initial_delay_seconds": delay,
            **extra,
        }
        assert_same(got, expected, "set_retry_policy's result")
        self.retries[wid] = expected

    @rule(data=st.data(), expected=st.none() | st.sampled_from(SLOTS), new=st.sampled_from(SLOTS))
    def advance(self, data: st.DataObject, expected: datetime | None, new: datetime) -> None:
        wid = data.draw(st.sampled_from(self.workflows))
        current = self.dispatched.get(wid)
        if data.draw(st.booleans()):
            expected = current  # often the right expectation, so slots do advance
        ok = self.call(self.store.advance_cron_dispatch(wid, expected=expected, new=new))
        should = current == expected and (current is None or new > current)
        assert ok is should, f"advance {current} -> {new} expecting {expected}"
        if should:
            self.dispatched[wid] = new

    @rule(data=st.data(), clear=st.booleans())
    def retry_attempt(self, data: st.DataObject, clear: bool) -> None:
        rid = data.draw(st.sampled_from(self.runs))
        if clear:
            self.call(self.store.clear_retry_attempts(rid))
            self.attempts.pop(rid, None)
            return
        got = self.call(self.store.increment_retry_attempt(rid))
        self.attempts[rid] = self.attempts.get(rid, 0) + 1
        assert got == self.attempts[rid]

    @invariant()
    def triggers_match(self) -> None:
        for wid in self.workflows:
            got = self.call(self.store.get_webhook_config(wid))
            assert_same(got, self.webhooks.get(wid, DEFAULT_WEBHOOK), f"webhook of {wid}")
            assert_same(
                self.call(self.store.get_retry_policy(wid)),
                self.retries.get(wid, DEFAULT_RETRY),
                "retry",
            )
            if wid in self.crons:
                assert_same(
                    self.call(self.store.get_cron_config(wid)), self.crons[wid], f"cron of {wid}"
                )
            else:
                with pytest.raises(CronTriggerNotFoundError):
                    self.call(self.store.get_cron_config(wid))
            assert_same(
                self.call(self.store.get_last_dispatched(wid)),
                self.dispatched.get(wid),
                "last dispatched",
            )
        listed = self.call(self.store.list_cron_configs())
        assert list(listed) == sorted(self.crons, key=str), (
            "list_cron_configs ordered by workflow id"
        )
        assert_same(dict(listed), self.crons, "list_cron_configs")
        for rid in self.runs:
            assert self.call(self.store.get_retry_attempt(rid)) == self.attempts.get(rid, 0)


def test_triggers_model_state_machine(provision_storage: ProvisionStorage) -> None:
    run_machine(TriggersMachine, provision_storage, min_steps=MODEL_STEPS)
