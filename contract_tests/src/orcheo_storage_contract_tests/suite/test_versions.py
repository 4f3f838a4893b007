"""Contract: workflow versions (DOMAIN.md section 1) - gapless numbers, checksums, diffs."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, note
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule
from orcheo_storage.errors import ValidationError, VersionNotFoundError, WorkflowNotFoundError
from orcheo_storage.jsoncodec import normalise_json
from orcheo_storage.storage import Storage

from orcheo_storage_contract_tests._runner import (
    AsyncStateMachine,
    ProvisionStorage,
    run,
    run_machine,
)
from orcheo_storage_contract_tests._support import (
    GRAPH,
    assert_utc,
    make_version,
    make_workflow,
    raises,
)
from orcheo_storage_contract_tests.strategies import (
    deep_json,
    hostile_json,
    json_objects,
    too_deep_json,
)

pytestmark = pytest.mark.orcheo_subsystem("workflows")


def expected_checksum(graph: dict[str, Any]) -> str:
    """Orcheo's rule: SHA-256 of ``json.dumps(graph, sort_keys=True, separators=(",", ":"))``
    with the standard library's other defaults (ASCII escapes, floats by ``repr``)."""
    text = json.dumps(graph, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


async def test_numbers_start_at_one_and_are_gapless(storage: Storage) -> None:
    workflow = await make_workflow(storage)
    other = await make_workflow(storage, name="Other")
    numbers = [(await make_version(storage, workflow)).version for _ in range(3)]
    assert numbers == [1, 2, 3]
    assert (await make_version(storage, other)).version == 1
    listed = await storage.workflows.list_versions(workflow.id)
    assert [v.version for v in listed] == [1, 2, 3]


async def test_version_fields_and_checksum(storage: Storage) -> None:
    workflow = await make_workflow(storage)
    version = await storage.workflows.create_version(
        workflow.id,
        graph={"b": 1, "a": ["ü", 2.5, 2.0, 1e-07, 2**70]},
        created_by="alice",
        metadata={"source": "editor"},
        runnable_config={"configurable": {"k": 1}},
        notes="first",
    )
    assert version.workflow_id == workflow.id
    assert version.graph == {"b": 1, "a": ["ü", 2.5, 2.0, 1e-07, 2**70]}
    assert isinstance(version.graph["a"][2], float)
    assert version.metadata == {"source": "editor"}
    assert version.runnable_config == {"configurable": {"k": 1}}
    assert version.notes == "first"
    assert version.created_by == "alice"
    assert_utc(version.created_at)
    assert version.checksum == expected_checksum({"a": ["ü", 2.5, 2.0, 1e-07, 2**70], "b": 1})
    assert version.updated_at == version.created_at
    assert version.mermaid is None
    assert [e.action for e in version.audit_log] == ["version_created"]
    assert await storage.workflows.get_version(version.id) == version
    assert await storage.workflows.get_version_by_number(workflow.id, 1) == version
    assert await storage.workflows.get_latest_version(workflow.id) == version


async def test_version_lookups_that_fail(storage: Storage) -> None:
    workflow = await make_workflow(storage)
    with raises(VersionNotFoundError, "workflow version not found: latest"):
        await storage.workflows.get_latest_version(workflow.id)
    missing = uuid.uuid4()
    with raises(VersionNotFoundError, f"workflow version not found: {missing}"):
        await storage.workflows.get_version(missing)
    with raises(VersionNotFoundError, "workflow version not found: 7"):
        await storage.workflows.get_version_by_number(workflow.id, 7)
    with raises(WorkflowNotFoundError, f"workflow not found: {missing}"):
        await storage.workflows.list_versions(missing)
    with raises(WorkflowNotFoundError, f"workflow not found: {missing}"):
        await storage.workflows.create_version(missing, graph=GRAPH, created_by="t")


async def test_invalid_graph_is_rejected_and_number_not_consumed(storage: Storage) -> None:
    workflow = await make_workflow(storage)
    with raises(ValidationError, "graph: must be a JSON object"):
        await storage.workflows.create_version(
            workflow.id,
            graph=["not", "an", "object"],  # type: ignore[arg-type]
            created_by="t",
        )
    with raises(ValidationError, "graph.a: non-finite numbers (NaN, Infinity) are not allowed"):
        await storage.workflows.create_version(
            workflow.id, graph={"a": float("nan")}, created_by="t"
        )
    with pytest.raises(ValidationError, match="JSON nesting deeper than 256 levels"):
        await storage.workflows.create_version(workflow.id, graph=too_deep_json(), created_by="t")
    assert await storage.workflows.list_versions(workflow.id) == []
    assert (await make_version(storage, workflow)).version == 1


async def test_runnable_config_is_the_only_mutable_part(storage: Storage) -> None:
    version = await make_version(storage, runnable_config={"tags": ["a"]})
    replaced = await storage.workflows.set_version_runnable_config(
        version.id, {"tags": ["b"], "configurable": {"x": 1}}, actor="ops"
    )
    assert replaced.runnable_config == {"tags": ["b"], "configurable": {"x": 1}}
    assert replaced.audit_log[-1].action == "runnable_config_updated"
    assert replaced.audit_log[-1].actor == "ops"
    frozen = ("id", "version", "graph", "metadata", "checksum", "created_at", "created_by")
    for field in frozen:
        assert getattr(replaced, field) == getattr(version, field)
    assert replaced.updated_at >= version.updated_at
    assert replaced.updated_at == replaced.audit_log[-1].at
    cleared = await storage.workflows.set_version_runnable_config(version.id, None, actor="ops")
    assert cleared.runnable_config is None
    assert cleared.audit_log[-1].action == "runnable_config_cleared"
    assert await storage.workflows.get_version(version.id) == cleared
    missing = uuid.uuid4()
    with raises(VersionNotFoundError, f"workflow version not found: {missing}"):
        await storage.workflows.set_version_runnable_config(missing, None, actor="ops")


async def test_diff_is_a_unified_diff_of_pretty_sorted_json(storage: Storage) -> None:
    workflow = await make_workflow(storage)
    await make_version(storage, workflow, graph={"nodes": ["a"], "z": 1})
    await make_version(storage, workflow, graph={"nodes": ["a", "b"], "z": 1})
    diff = await storage.workflows.diff_versions(workflow.id, 1, 2)
    assert diff.base_version == 1
    assert diff.target_version == 2
    assert diff.diff[:2] == ["--- v1", "+++ v2"]
    assert '+    "b"' in diff.diff
    assert '-    "a"' in diff.diff
    assert '+    "a",' in diff.diff
    with raises(VersionNotFoundError, "workflow version not found: 9"):
        await storage.workflows.diff_versions(workflow.id, 1, 9)


async def test_returned_versions_are_copies(storage: Storage) -> None:
    version = await make_version(storage, graph={"nodes": [1]}, metadata={"m": {"k": 1}})
    version.graph["nodes"].append(2)
    version.metadata["m"]["k"] = 99
    fetched = await storage.workflows.get_version(version.id)
    assert fetched.graph == {"nodes": [1]}
    assert fetched.metadata == {"m": {"k": 1}}
    listed = (await storage.workflows.list_versions(version.workflow_id))[0]
    listed.graph["nodes"].clear()
    assert (await storage.workflows.get_latest_version(version.workflow_id)).graph == {"nodes": [1]}


async def test_concurrent_creates_are_gapless(storage: Storage) -> None:
    workflow = await make_workflow(storage)
    created = await asyncio.gather(*(make_version(storage, workflow) for _ in range(20)))
    assert sorted(v.version for v in created) == list(range(1, 21))
    listed = await storage.workflows.list_versions(workflow.id)
    assert [v.version for v in listed] == list(range(1, 21))


# --- properties --------------------------------------------------------------------------------


@given(graph=json_objects, metadata=json_objects)
def test_graph_and_metadata_round_trip_exactly(
    provision_storage: ProvisionStorage, graph: dict[str, Any], metadata: dict[str, Any]
) -> None:
    async def body() -> None:
        async with provision_storage() as storage:
            version = await make_version(storage, graph=graph, metadata=metadata)
            fetched = await storage.workflows.get_version(version.id)
            assert fetched.graph == normalise_json(graph)
            assert fetched.metadata == normalise_json(metadata)
            assert fetched == version
            # Exactness: Decimals stay Decimals, big ints stay ints (== would hide 1 == 1.0).
            assert repr(fetched.graph) == repr(version.graph)

    run(body())


@given(graph=deep_json())
def test_deep_graphs_round_trip(provision_storage: ProvisionStorage, graph: dict[str, Any]) -> None:
    async def body() -> None:
        async with provision_storage() as storage:
            version = await make_version(storage, graph=graph)
            assert (await storage.workflows.get_version(version.id)).graph == normalise_json(graph)

    run(body())


@given(poison=hostile_json(), where=st.sampled_from(["graph", "metadata", "runnable_config"]))
def test_hostile_documents_are_rejected_and_nothing_written(
    provision_storage: ProvisionStorage, poison: dict[str, Any], where: str
) -> None:
    note(f"{where}={poison!r}")

    async def body() -> None:
        async with provision_storage() as storage:
            workflow = await make_workflow(storage)
            kwargs: dict[str, Any] = {"graph": GRAPH, where: poison}
            with pytest.raises(ValidationError) as info:
                await storage.workflows.create_version(workflow.id, created_by="t", **kwargs)
            assert str(info.value).startswith(where)
            assert await storage.workflows.list_versions(workflow.id) == []

    run(body())


@given(value=st.decimals(allow_nan=False, allow_infinity=False, places=20))
def test_exact_decimals_in_graphs(provision_storage: ProvisionStorage, value: Decimal) -> None:
    async def body() -> None:
        async with provision_storage() as storage:
            version = await make_version(storage, graph={"x": value})
            stored = (await storage.workflows.get_version(version.id)).graph["x"]
            assert Decimal(str(stored)) == value
            assert stored == normalise_json(value)
            assert type(stored) is type(normalise_json(value))

    run(body())


# --- state machine -----------------------------------------------------------------------------


class VersionMachine(AsyncStateMachine):
    """Creates versions of a few workflows (some with invalid graphs) and edits configs.

    Model: workflow id -> list of (version id, runnable_config).
    """

    def __init__(self, provision: ProvisionStorage) -> None:
        super().__init__(provision)
        self.model: dict[uuid.UUID, list[tuple[uuid.UUID, Any]]] = {}

    @rule()
    def add_workflow(self) -> None:
        workflow = self.call(make_workflow(self.storage))
        self.model[workflow.id] = []

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data(), valid=st.booleans(), config=st.one_of(st.none(), json_objects))
    def add_version(self, data: st.DataObject, valid: bool, config: Any) -> None:
        wid = data.draw(st.sampled_from(list(self.model)))
        graph: Any = GRAPH if valid else {"bad": float("inf")}
        call = self.storage.workflows.create_version(
            wid, graph=graph, created_by="m", runnable_config=config
        )
        if not valid:
            with pytest.raises(ValidationError):
                self.call(call)
            return
        version = self.call(call)
        self.model[wid].append((version.id, normalise_json(config)))
        assert version.version == len(self.model[wid])

    @precondition(lambda self: any(self.model.values()))
    @rule(data=st.data(), config=st.one_of(st.none(), json_objects))
    def set_config(self, data: st.DataObject, config: Any) -> None:
        wid = data.draw(st.sampled_from([w for w, vs in self.model.items() if vs]))
        index = data.draw(st.integers(0, len(self.model[wid]) - 1))
        vid, _ = self.model[wid][index]
        self.call(self.storage.workflows.set_version_runnable_config(vid, config, actor="m"))
        self.model[wid][index] = (vid, normalise_json(config))

    @invariant()
    def versions_gapless_and_match_model(self) -> None:
        for wid, expected in self.model.items():
            listed = self.call(self.storage.workflows.list_versions(wid))
            assert [v.version for v in listed] == list(range(1, len(expected) + 1))
            assert [v.id for v in listed] == [vid for vid, _ in expected]
            assert [v.runnable_config for v in listed] == [cfg for _, cfg in expected]
            if expected:
                latest = self.call(self.storage.workflows.get_latest_version(wid))
                assert latest.version == len(expected)


def test_version_state_machine(provision_storage: ProvisionStorage) -> None:
    run_machine(VersionMachine, provision_storage)
