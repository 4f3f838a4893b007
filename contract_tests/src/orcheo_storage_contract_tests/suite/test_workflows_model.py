"""Contract: the workflow repository against its reference model, after every step.

Several workflows at once, a frozen clock (ties on purpose), values of every JSON type,
handles looked up with near-miss references, version numbers looked up in every
workflow, runs paged with every limit, returned objects scribbled on and re-read.
"""

from __future__ import annotations

import math
import uuid
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule
from orcheo_storage.errors import (
    HandleConflictError,
    InvalidTransitionError,
    PublishStateError,
    RunNotFoundError,
    VersionNotFoundError,
    WorkflowNotFoundError,
)
from orcheo_storage.models.workflows import RunStatus
from orcheo_storage.rules.workflows import WorkflowChanges

from orcheo_storage_contract_tests._runner import (
    MODEL_STEPS,
    ClockedStateMachine,
    ProvisionStorage,
    run_machine,
)
from orcheo_storage_contract_tests._support import all_pages
from orcheo_storage_contract_tests.near_miss import LONG_PREFIX, near_misses
from orcheo_storage_contract_tests.observation import assert_same, scribble
from orcheo_storage_contract_tests.reference.workflows import WorkflowsModel
from orcheo_storage_contract_tests.strategies import fidelity_objects

pytestmark = pytest.mark.orcheo_subsystem("workflows")

HANDLES = ("team-flow", "team-flow-2", f"{LONG_PREFIX}-a", f"{LONG_PREFIX}-b")
"""Handles with a shared 16-character prefix and one that extends another."""
TYPED = st.sampled_from(HANDLES).flatmap(
    lambda h: st.sampled_from([h, h.upper(), f"  {h} ", h.title()])
)
"""A handle as a caller types it: any case, padded (the domain strips and lowercases)."""
CONFIGS = st.sampled_from(
    [None, {"configurable": {"a": 1}, "tags": ["v"]}, {"metadata": {"k": 2.0}, "run_name": "n"}]
)
OVERRIDES = st.sampled_from(
    [None, {"configurable": {"b": -0.0}}, {"tags": ["o"], "metadata": {"x": 1}}]
)
TARGETS = st.sampled_from(list(RunStatus))


class WorkflowsMachine(ClockedStateMachine):
    """Workflows, versions and runs of several workflows against :class:`WorkflowsModel`."""

    def __init__(self, provision: ProvisionStorage) -> None:
        super().__init__(provision)
        self.model = WorkflowsModel()

    @property
    def repo(self) -> Any:
        return self.storage.workflows

    def _pick(self, data: st.DataObject, keys: Any) -> Any:
        return data.draw(st.sampled_from(list(keys)))

    # --- workflows ---------------------------------------------------------------------------

    @precondition(lambda self: len(self.model.workflows) < 5)
    @rule(
        name=st.sampled_from(["Flow", "  Ümlaut Flow ", "flow"]),
        handle=st.none() | TYPED,
        tags=st.sampled_from([[], [" B ", "b", "a"], ["ß"]]),
    )
    def create_workflow(self, name: str, handle: str | None, tags: list[str]) -> None:
        normalised = None if handle is None else handle.strip().lower()
        if normalised is not None and self.model.active_holder(normalised) is not None:
            with pytest.raises(HandleConflictError):
                self.call(self.repo.create_workflow(name=name, actor="m", handle=handle, tags=tags))
            return
        created = self.call(
            self.repo.create_workflow(name=name, actor="m", handle=handle, tags=tags)
        )
        row = self.model.create_workflow(
            created.id, name=name, handle=normalised, tags=tags, actor="m", now=self.clock.now()
        )
        assert_same(created, row, "create_workflow's result")
        # An update that changes nothing, a microsecond later: still audited, still moves
        # updated_at (so every program updates something early).
        self.clock.advance(timedelta(microseconds=1))
        touched = self.call(self.repo.update_workflow(created.id, WorkflowChanges(), actor="u"))
        expected = self.model.update_workflow(created.id, {}, actor="u", now=self.clock.now())
        assert_same(touched, expected, "an update that changes nothing")

    @precondition(lambda self: bool(self.model.workflows))
    @rule(data=st.data(), what=st.sampled_from(["handle", "tags", "archive", "unarchive", "name"]))
    def update_workflow(self, data: st.DataObject, what: str) -> None:
        wid = self._pick(data, self.model.workflows)
        row = self.model.workflows[wid]
        changes: dict[str, Any] = {}
        if what == "handle":
            typed = data.draw(TYPED)
            changes["handle"] = typed.strip().lower()
            request = WorkflowChanges(handle=typed)
        elif what == "tags":
            changes["tags"] = ["x"]
            request = WorkflowChanges(tags=[" X ", "x"])
        elif what == "name":
            changes["name"] = "Renamed"
            request = WorkflowChanges(name=" Renamed ")
        else:
            changes["is_archived"] = what == "archive"
            request = WorkflowChanges(is_archived=what == "archive")
        handle = changes.get("handle", row["handle"])
        archived = changes.get("is_archived", row["is_archived"])
        if handle is not None and not archived and self.model.active_holder(handle, exclude=wid):
            with pytest.raises(HandleConflictError):
                self.call(self.repo.update_workflow(wid, request, actor="u"))
            return
        self.clock.advance(timedelta(microseconds=1))  # an update later than the last write
        updated = self.call(self.repo.update_workflow(wid, request, actor="u"))
        expected = self.model.update_workflow(wid, changes, actor="u", now=self.clock.now())
        assert_same(updated, expected, "update_workflow's result")

    @precondition(lambda self: bool(self.model.workflows))
    @rule(data=st.data(), require_login=st.booleans())
    def publish(self, data: st.DataObject, require_login: bool) -> None:
        wid = self._pick(data, self.model.workflows)
        row = self.model.workflows[wid]
        if row["is_archived"]:
            with pytest.raises(WorkflowNotFoundError):
                self.call(self.repo.publish_workflow(wid, actor="p", require_login=require_login))
        elif row["publication"]["is_public"]:
            with pytest.raises(PublishStateError):
                self.call(self.repo.publish_workflow(wid, actor="p", require_login=require_login))
        else:
            got = self.call(self.repo.publish_workflow(wid, actor="p", require_login=require_login))
            now = self.clock.now()
            assert_same(
                got,
                self.model.publish(wid, actor="p", require_login=require_login, now=now),
                "publish",
            )

    @precondition(lambda self: bool(self.model.workflows))
    @rule(data=st.data())
    def revoke(self, data: st.DataObject) -> None:
        wid = self._pick(data, self.model.workflows)
        if not self.model.workflows[wid]["publication"]["is_public"]:
            with pytest.raises(PublishStateError):
                self.call(self.repo.revoke_publication(wid, actor="r"))
            return
        got = self.call(self.repo.revoke_publication(wid, actor="r"))
        assert_same(got, self.model.revoke(wid, actor="r", now=self.clock.now()), "revoke")

    # --- versions ----------------------------------------------------------------------------

    @precondition(lambda self: bool(self.model.workflows) and len(self.model.versions) < 8)
    @rule(data=st.data(), graph=fidelity_objects, config=CONFIGS)
    def create_version(self, data: st.DataObject, graph: dict[str, Any], config: Any) -> None:
        wid = self._pick(data, self.model.workflows)
        got = self.call(
            self.repo.create_version(wid, graph=graph, created_by="v", runnable_config=config)
        )
        row = self.model.create_version(
            got.id, wid, graph=graph, config=config, actor="v", now=self.clock.now()
        )
        assert_same(got, row, "create_version's result")

    @precondition(lambda self: bool(self.model.versions))
    @rule(data=st.data(), config=CONFIGS)
    def set_runnable_config(self, data: st.DataObject, config: Any) -> None:
        vid = self._pick(data, self.model.versions)
        got = self.call(self.repo.set_version_runnable_config(vid, config, actor="c"))
        row = self.model.set_runnable_config(vid, config, actor="c", now=self.clock.now())
        assert_same(got, row, "set_version_runnable_config's result")

    # --- runs --------------------------------------------------------------------------------

    @precondition(lambda self: bool(self.model.versions) and len(self.model.runs) < 12)
    @rule(data=st.data(), payload=fidelity_objects, override=OVERRIDES)
    def create_run(self, data: st.DataObject, payload: dict[str, Any], override: Any) -> None:
        wid = self._pick(data, self.model.workflows)
        vid = self._pick(data, self.model.versions)  # often a version of another workflow
        create = self.repo.create_run(
            wid,
            workflow_version_id=vid,
            triggered_by="t",
            input_payload=payload,
            runnable_config=override,
        )
        refusal = self.model.can_run(wid, vid)
        if refusal is not None:
            error = WorkflowNotFoundError if refusal == "workflow" else VersionNotFoundError
            with pytest.raises(error):
                self.call(create)
            return
        got = self.call(create)
        row = self.model.create_run(
            got.id, wid, vid, payload=payload, override=override, actor="t", now=self.clock.now()
        )
        assert_same(got, row, "create_run's result")

    @precondition(lambda self: bool(self.model.runs))
    @rule(data=st.data(), status=TARGETS, output=fidelity_objects)
    def transition_run(
        self, data: st.DataObject, status: RunStatus, output: dict[str, Any]
    ) -> None:
        target = status
        rid = self._pick(data, self.model.runs)
        error = "boom" if target in (RunStatus.FAILED, RunStatus.CANCELLED) else None
        move = self.repo.transition_run(rid, target, actor="w", output=output, error=error)
        row = self.model.transition(
            rid, target.value, actor="w", output=output, error=error, now=self.clock.now()
        )
        if row is None:
            with pytest.raises(InvalidTransitionError):
                self.call(move)
            return
        assert_same(self.call(move), row, "transition_run's result")

    @rule(count=st.integers(2, 3), payload=fidelity_objects)
    def runs_at_one_instant(self, count: int, payload: dict[str, Any]) -> None:
        """Several runs of one workflow in one instant: their order is decided by id alone."""
        if not any(
            not self.model.workflows[v["workflow_id"]]["is_archived"]
            for v in self.model.versions.values()
        ):
            created = self.call(self.repo.create_workflow(name="Runs", actor="m"))
            self.model.create_workflow(
                created.id, name="Runs", handle=None, tags=[], actor="m", now=self.clock.now()
            )
            got = self.call(self.repo.create_version(created.id, graph={}, created_by="v"))
            self.model.create_version(
                got.id, created.id, graph={}, config=None, actor="v", now=self.clock.now()
            )
        vid = next(
            v
            for v, row in self.model.versions.items()
            if not self.model.workflows[row["workflow_id"]]["is_archived"]
        )
        wid = self.model.versions[vid]["workflow_id"]
        body = {**payload, "two": 2.0, "big": 2**64 + 1}
        for _ in range(count):
            got = self.call(
                self.repo.create_run(
                    wid, workflow_version_id=vid, triggered_by="t", input_payload=body
                )
            )
            row = self.model.create_run(
                got.id, wid, vid, payload=body, override=None, actor="t", now=self.clock.now()
            )
            assert_same(got, row, "create_run's result")

    # --- lookups that must miss, and copies ----------------------------------------------------

    @rule(data=st.data(), include_archived=st.booleans())
    def resolve_near_misses(self, data: st.DataObject, include_archived: bool) -> None:
        keys = [*HANDLES, *(str(w) for w in self.model.workflows)]
        key = data.draw(st.sampled_from(keys))
        for ref in [key, *near_misses(key)]:
            expected = self.model.resolve(ref, include_archived=include_archived)
            note(f"resolve {ref!r} (archived {include_archived}) -> {expected}")
            if expected is None:
                with pytest.raises(WorkflowNotFoundError):
                    self.call(
                        self.repo.resolve_workflow_ref(ref, include_archived=include_archived)
                    )
            else:
                got = self.call(
                    self.repo.resolve_workflow_ref(ref, include_archived=include_archived)
                )
                assert got == expected, (
                    f"resolve_workflow_ref({ref!r}) -> {got}, expected {expected}"
                )

    @precondition(lambda self: bool(self.model.workflows))
    @rule(data=st.data(), kind=st.sampled_from(["workflow", "version", "run", "list"]))
    def scribble_on_results(self, data: st.DataObject, kind: str) -> None:
        if kind == "version" and self.model.versions:
            scribble(self.call(self.repo.get_version(self._pick(data, self.model.versions))))
        elif kind == "run" and self.model.runs:
            scribble(self.call(self.repo.get_run(self._pick(data, self.model.runs))))
        elif kind == "list":
            for workflow in self.call(self.repo.list_workflows(include_archived=True)):
                scribble(workflow)
            for wid in self.model.workflows:
                for version in self.call(self.repo.list_versions(wid)):
                    scribble(version)
        else:
            scribble(self.call(self.repo.get_workflow(self._pick(data, self.model.workflows))))

    # --- the whole observable state ------------------------------------------------------------

    @invariant()
    def workflows_match(self) -> None:
        for archived in (False, True):
            listed = self.call(self.repo.list_workflows(include_archived=archived))
            assert_same(
                listed, self.model.listed(include_archived=archived), f"list_workflows({archived})"
            )
        for wid, row in self.model.workflows.items():
            assert_same(self.call(self.repo.get_workflow(wid)), row, f"get_workflow({wid})")
        with pytest.raises(WorkflowNotFoundError):
            self.call(self.repo.get_workflow(uuid.uuid4()))

    @invariant()
    def versions_match(self) -> None:
        highest = max((v["version"] for v in self.model.versions.values()), default=0)
        for wid in self.model.workflows:
            own = self.model.versions_of(wid)
            assert_same(self.call(self.repo.list_versions(wid)), own, f"list_versions({wid})")
            if own:
                assert_same(self.call(self.repo.get_latest_version(wid)), own[-1], "latest version")
            else:
                with pytest.raises(VersionNotFoundError):
                    self.call(self.repo.get_latest_version(wid))
            # every number any workflow has, asked of this one: scope shows
            for number in range(1, highest + 2):
                expected = self.model.version_by_number(wid, number)
                if expected is None:
                    with pytest.raises(VersionNotFoundError):
                        self.call(self.repo.get_version_by_number(wid, number))
                else:
                    got = self.call(self.repo.get_version_by_number(wid, number))
                    assert_same(got, expected, f"version {number} of {wid}")
        for vid, row in self.model.versions.items():
            assert_same(self.call(self.repo.get_version(vid)), row, f"get_version({vid})")

    @invariant()
    def runs_match(self) -> None:
        for wid in self.model.workflows:
            expected = self.model.runs_newest_first(wid)
            for limit in (1, 2, 50):

                def fetch(cursor: str | None, w: uuid.UUID = wid, n: int = limit) -> Any:
                    return self.repo.list_runs(w, limit=n, cursor=cursor)

                pages = self.call(all_pages(fetch))
                assert [len(p) for p in pages[:-1]] == [limit] * (len(pages) - 1), "short page"
                assert len(pages) == max(1, math.ceil(len(expected) / limit)), (
                    f"{len(pages)} pages of {limit} for {len(expected)} runs"
                )
                assert_same(
                    [r for p in pages for r in p], expected, f"runs of {wid}, limit {limit}"
                )
        for rid, row in self.model.runs.items():
            assert_same(self.call(self.repo.get_run(rid)), row, f"get_run({rid})")
        with pytest.raises(RunNotFoundError):
            self.call(self.repo.get_run(uuid.uuid4()))


def test_workflows_model_state_machine(provision_storage: ProvisionStorage) -> None:
    run_machine(WorkflowsMachine, provision_storage, min_steps=MODEL_STEPS)
