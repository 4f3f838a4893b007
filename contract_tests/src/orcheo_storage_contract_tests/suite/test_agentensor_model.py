"""Contract: agentensor checkpoints against the reference model, after every step.

Workflow ids that share a 16-character prefix or differ in case; explicit and default
config versions; one best per workflow; the newest-first order under a frozen clock
(equal created_at on purpose); containment filters built from stored documents at every
depth, with limits below the number of matches.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule
from orcheo_storage.errors import CheckpointNotFoundError, DuplicateError
from orcheo_storage.protocols.backend import Capability

from orcheo_storage_contract_tests._runner import (
    MODEL_STEPS,
    ClockedStateMachine,
    ProvisionStorage,
    run_machine,
)
from orcheo_storage_contract_tests.near_miss import LONG_PREFIX, near_misses
from orcheo_storage_contract_tests.observation import assert_same, scribble
from orcheo_storage_contract_tests.reference.tokens_checkpoints import CheckpointsModel, fragments
from orcheo_storage_contract_tests.strategies import fidelity_values

pytestmark = pytest.mark.orcheo_subsystem("agentensor")

WORKFLOWS = ("wf-a", "WF-A", f"{LONG_PREFIX}-x", f"{LONG_PREFIX}-y")
DOCUMENTS = st.fixed_dictionaries(
    {"score": st.sampled_from([1, 2.0, 0.5, True])},
    optional={
        "nested": st.fixed_dictionaries(
            {"deep": st.fixed_dictionaries({"leaf": st.sampled_from(["a", "b", 2, 2.5])})},
            optional={"tags": st.lists(st.sampled_from(["x", "y", 1]), max_size=3)},
        ),
        "extra": fidelity_values,
    },
)
"""Metric and metadata documents: shared leaves at several depths, so fragments match some
checkpoints and not others, and a one-level-deep containment check gives other answers."""


class CheckpointsMachine(ClockedStateMachine):
    def __init__(self, provision: ProvisionStorage, containment: bool) -> None:
        super().__init__(provision)
        self.model = CheckpointsModel()
        self.containment = containment

    @property
    def store(self) -> Any:
        return self.storage.agentensor

    @precondition(lambda self: len(self.model.checkpoints) < 9)
    @rule(
        workflow=st.sampled_from(WORKFLOWS),
        metrics=DOCUMENTS,
        metadata=DOCUMENTS,
        best=st.booleans(),
        version=st.none() | st.integers(1, 3),
    )
    def record(
        self, workflow: str, metrics: Any, metadata: Any, best: bool, version: int | None
    ) -> None:
        call = self.store.record_checkpoint(
            workflow_id=workflow,
            metrics=metrics,
            metadata=metadata,
            is_best=best,
            config_version=version,
        )
        if version is not None and any(
            c["config_version"] == version for c in self.model.of(workflow)
        ):
            with pytest.raises(DuplicateError):
                self.call(call)
            return
        got = self.call(call)
        number = version if version is not None else self.model.next_version(workflow)
        row = self.model.record(got.id, workflow, number, metrics, metadata, best, self.clock.now())
        assert_same(got, row, "record_checkpoint's result")

    @rule(workflow=st.sampled_from(WORKFLOWS), metrics=DOCUMENTS)
    def versions_against_time(self, workflow: str, metrics: Any) -> None:
        """A higher version recorded before a lower one: the order is by version, not time."""
        high = self.model.next_version(workflow) + 1
        for version in (high, high - 1):
            got = self.call(
                self.store.record_checkpoint(
                    workflow_id=workflow, metrics=metrics, config_version=version
                )
            )
            row = self.model.record(got.id, workflow, version, metrics, {}, False, self.clock.now())
            assert_same(got, row, f"record_checkpoint(config_version={version})")
            self.clock.advance(timedelta(microseconds=1))

    @precondition(lambda self: bool(self.model.checkpoints))
    @rule(data=st.data())
    def mark_best(self, data: st.DataObject) -> None:
        cid = data.draw(st.sampled_from(list(self.model.checkpoints)))
        assert_same(self.call(self.store.mark_best(cid)), self.model.mark_best(cid), "mark_best")

    @precondition(lambda self: bool(self.model.checkpoints))
    @rule(
        data=st.data(),
        limit=st.sampled_from([1, 2, 50]),
        on=st.sampled_from(["metrics", "metadata"]),
    )
    def filter_by_containment(self, data: st.DataObject, limit: int, on: str) -> None:
        if not self.containment:
            return
        source = data.draw(st.sampled_from(list(self.model.checkpoints)))
        row = self.model.checkpoints[source]
        candidates = [*fragments(row[on]), {"score": 1}, {"nested": {"deep": {}}}, {"absent": 1}]
        fragment = data.draw(st.sampled_from(candidates))
        note(f"{on} contains {fragment!r}")
        for workflow in (row["workflow_id"], *WORKFLOWS[:1]):
            got = self.call(
                self.store.list_checkpoints(workflow, limit=limit, **{f"{on}_contains": fragment})
            )
            expected = self.model.listed(workflow, limit, **{on: fragment})
            assert_same(
                got, expected, f"list_checkpoints({workflow!r}, {on}_contains={fragment!r})"
            )

    @precondition(lambda self: bool(self.model.checkpoints))
    @rule(data=st.data())
    def scribble_on_results(self, data: st.DataObject) -> None:
        cid = data.draw(st.sampled_from(list(self.model.checkpoints)))
        scribble(self.call(self.store.get_checkpoint(cid)))
        workflow = self.model.checkpoints[cid]["workflow_id"]
        for checkpoint in self.call(self.store.list_checkpoints(workflow)):
            scribble(checkpoint)
        scribble(self.call(self.store.best_checkpoint(workflow)))

    @rule(workflow=st.sampled_from(WORKFLOWS))
    def probe_near_misses(self, workflow: str) -> None:
        for miss in near_misses(workflow):
            assert_same(
                self.call(self.store.list_checkpoints(miss)),
                self.model.listed(miss, 50),
                f"list {miss!r}",
            )
            assert_same(
                self.call(self.store.best_checkpoint(miss)), self.model.best(miss), f"best {miss!r}"
            )

    @invariant()
    def checkpoints_match(self) -> None:
        for workflow in WORKFLOWS:
            ordered = self.model.of(workflow)
            for limit in (1, 2, 50):
                got = self.call(self.store.list_checkpoints(workflow, limit=limit))
                assert_same(got, ordered[:limit], f"list_checkpoints({workflow!r}, {limit})")
            assert_same(
                self.call(self.store.latest_checkpoint(workflow)),
                ordered[0] if ordered else None,
                "latest",
            )
            assert_same(
                self.call(self.store.best_checkpoint(workflow)), self.model.best(workflow), "best"
            )
        for cid, row in self.model.checkpoints.items():
            assert_same(self.call(self.store.get_checkpoint(cid)), row, f"get_checkpoint({cid})")
        with pytest.raises(CheckpointNotFoundError):
            self.call(self.store.get_checkpoint(uuid.uuid4()))


def test_agentensor_model_state_machine(
    provision_storage: ProvisionStorage, backend_manifest: Any
) -> None:
    containment = Capability.JSON_CONTAINMENT in backend_manifest.capabilities
    run_machine(
        CheckpointsMachine, provision_storage, min_steps=MODEL_STEPS, containment=containment
    )
