"""Contract: Agentensor checkpoints (DOMAIN.md section 5) - versions and one best per workflow."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, note
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule
from orcheo_storage.errors import (
    CheckpointNotFoundError,
    DuplicateError,
    UnsupportedError,
    ValidationError,
)
from orcheo_storage.jsoncodec import normalise_json
from orcheo_storage.models.agentensor import AgentensorCheckpoint
from orcheo_storage.protocols.backend import BackendManifest, Capability
from orcheo_storage.storage import Storage

from orcheo_storage_contract_tests._runner import (
    AsyncStateMachine,
    ProvisionStorage,
    run,
    run_machine,
)
from orcheo_storage_contract_tests._support import assert_utc, nested
from orcheo_storage_contract_tests.strategies import (
    hostile_json,
    hostile_text,
    json_objects,
    too_deep_json,
)


def _bests(checkpoints: list[AgentensorCheckpoint]) -> list[AgentensorCheckpoint]:
    return [c for c in checkpoints if c.is_best]


# --- recording ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_config_version_defaults_to_next_from_one(storage: Storage) -> None:
    store = storage.agentensor
    first = await store.record_checkpoint(workflow_id="wf", metrics={"score": 0.5})
    second = await store.record_checkpoint(workflow_id="wf")
    other = await store.record_checkpoint(workflow_id="wf-other")
    assert (first.config_version, second.config_version, other.config_version) == (1, 2, 1)
    assert first.metrics == {"score": 0.5}
    assert first.is_best is False
    assert_utc(first.created_at)
    assert await store.get_checkpoint(first.id) == first


@pytest.mark.asyncio
async def test_explicit_version_and_duplicate(storage: Storage) -> None:
    store = storage.agentensor
    await store.record_checkpoint(workflow_id="wf", config_version=5)
    following = await store.record_checkpoint(workflow_id="wf")
    assert following.config_version == 6
    with pytest.raises(DuplicateError, match="already exists"):
        await store.record_checkpoint(workflow_id="wf", config_version=5, is_best=True)
    listed = await store.list_checkpoints("wf")
    assert [c.config_version for c in listed] == [6, 5]
    assert _bests(listed) == []


@pytest.mark.asyncio
async def test_invalid_input_writes_nothing(storage: Storage) -> None:
    store = storage.agentensor
    with pytest.raises(ValidationError, match="workflow_id"):
        await store.record_checkpoint(workflow_id="x" * 129)
    with pytest.raises(ValidationError, match="workflow_id"):
        await store.record_checkpoint(workflow_id="")
    with pytest.raises(ValidationError, match="config_version"):
        await store.record_checkpoint(workflow_id="wf", config_version=0)
    with pytest.raises(ValidationError, match="non-finite"):
        await store.record_checkpoint(workflow_id="wf", metrics={"loss": float("nan")})
    with pytest.raises(ValidationError, match="NUL characters are not allowed"):
        await store.record_checkpoint(workflow_id="wf", metadata={"note": "a\x00b"}, is_best=True)
    with pytest.raises(ValidationError, match="JSON nesting deeper than"):
        await store.record_checkpoint(workflow_id="wf", runnable_config=too_deep_json())
    assert await store.list_checkpoints("wf") == []
    assert await store.latest_checkpoint("wf") is None
    assert await store.best_checkpoint("wf") is None
    ok = await store.record_checkpoint(workflow_id="w" * 128)
    assert ok.config_version == 1


@pytest.mark.asyncio
async def test_get_missing_checkpoint(storage: Storage) -> None:
    missing = uuid.UUID(int=42)
    with pytest.raises(
        CheckpointNotFoundError, match=f"agentensor checkpoint not found: {missing}"
    ) as info:
        await storage.agentensor.get_checkpoint(missing)
    assert info.value.key == missing
    with pytest.raises(CheckpointNotFoundError):
        await storage.agentensor.mark_best(missing)


# --- best -----------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_is_best_clears_previous_best(storage: Storage) -> None:
    store = storage.agentensor
    a = await store.record_checkpoint(workflow_id="wf", is_best=True)
    other = await store.record_checkpoint(workflow_id="wf-other", is_best=True)
    b = await store.record_checkpoint(workflow_id="wf", is_best=True)
    assert (await store.get_checkpoint(a.id)).is_best is False
    assert (await store.get_checkpoint(b.id)).is_best is True
    assert await store.best_checkpoint("wf") == await store.get_checkpoint(b.id)
    assert (await store.get_checkpoint(other.id)).is_best is True
    assert len(_bests(await store.list_checkpoints("wf"))) == 1


@pytest.mark.asyncio
async def test_mark_best_moves_the_flag(storage: Storage) -> None:
    store = storage.agentensor
    a = await store.record_checkpoint(workflow_id="wf", is_best=True)
    b = await store.record_checkpoint(workflow_id="wf")
    marked = await store.mark_best(b.id)
    assert marked.is_best is True
    assert marked.id == b.id
    assert (await store.get_checkpoint(a.id)).is_best is False
    again = await store.mark_best(b.id)
    assert again.is_best is True
    assert [c.id for c in _bests(await store.list_checkpoints("wf"))] == [b.id]
    best = await store.best_checkpoint("wf")
    assert best is not None
    assert best.id == b.id


@pytest.mark.asyncio
async def test_concurrent_best_marks_leave_exactly_one(storage: Storage) -> None:
    store = storage.agentensor
    checkpoints = [await store.record_checkpoint(workflow_id="wf") for _ in range(12)]
    await asyncio.gather(*(store.mark_best(c.id) for c in checkpoints))
    assert len(_bests(await store.list_checkpoints("wf"))) == 1
    recorded = await asyncio.gather(
        *(store.record_checkpoint(workflow_id="wf", is_best=True) for _ in range(8))
    )
    listed = await store.list_checkpoints("wf")
    assert len(_bests(listed)) == 1
    assert _bests(listed)[0].id in {c.id for c in recorded}


# --- ordering -------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_list_newest_first_with_limit_and_latest(storage: Storage) -> None:
    store = storage.agentensor
    await store.record_checkpoint(workflow_id="wf", config_version=3)
    await store.record_checkpoint(workflow_id="wf", config_version=1)
    await store.record_checkpoint(workflow_id="wf", config_version=2)
    listed = await store.list_checkpoints("wf")
    assert [c.config_version for c in listed] == [3, 2, 1]
    limited = await store.list_checkpoints("wf", limit=2)
    assert [c.config_version for c in limited] == [3, 2]
    assert await store.latest_checkpoint("wf") == listed[0]
    assert await store.list_checkpoints("nothing-here") == []
    with pytest.raises(ValidationError, match="limit"):
        await store.list_checkpoints("wf", limit=0)


@pytest.mark.asyncio
async def test_concurrent_default_versions_are_unique_and_gapless(storage: Storage) -> None:
    store = storage.agentensor
    created = await asyncio.gather(*(store.record_checkpoint(workflow_id="wf") for _ in range(25)))
    assert sorted(c.config_version for c in created) == list(range(1, 26))


@pytest.mark.asyncio
async def test_returned_checkpoints_are_copies(storage: Storage) -> None:
    store = storage.agentensor
    cp = await store.record_checkpoint(workflow_id="wf", metrics={"hist": [1, 2]})
    cp.metrics["hist"].append(3)
    got = await store.get_checkpoint(cp.id)
    got.metadata["injected"] = True
    listed = await store.list_checkpoints("wf")
    listed[0].runnable_config["x"] = 1
    again = await store.get_checkpoint(cp.id)
    assert again.metrics == {"hist": [1, 2]}
    assert again.metadata == {}
    assert again.runnable_config == {}


# --- containment ----------------------------------------------------------------------------------


@pytest.mark.orcheo_capability("json_containment")
@pytest.mark.asyncio
async def test_containment_filters(storage: Storage) -> None:
    store = storage.agentensor
    a = await store.record_checkpoint(
        workflow_id="wf", metrics={"score": 0.9, "tags": ["x", "y"]}, metadata={"env": "prod"}
    )
    b = await store.record_checkpoint(
        workflow_id="wf", metrics={"score": 0.5, "tags": ["y"]}, metadata={"env": "dev"}
    )
    await store.record_checkpoint(workflow_id="other", metrics={"score": 0.9})
    assert [c.id for c in await store.list_checkpoints("wf", metrics_contains={"score": 0.9})] == [
        a.id
    ]
    both = await store.list_checkpoints("wf", metrics_contains={"tags": ["y"]})
    assert [c.id for c in both] == [b.id, a.id]
    assert [c.id for c in await store.list_checkpoints("wf", metadata_contains={"env": "dev"})] == [
        b.id
    ]
    assert await store.list_checkpoints("wf", metadata_contains={"env": "none"}) == []


@pytest.mark.asyncio
async def test_containment_without_capability_is_unsupported(
    storage: Storage, backend_manifest: BackendManifest
) -> None:
    if Capability.JSON_CONTAINMENT in backend_manifest.capabilities:
        pytest.skip("backend declares json_containment (covered by test_containment_filters)")
    with pytest.raises(UnsupportedError):
        await storage.agentensor.list_checkpoints("wf", metrics_contains={"a": 1})


# --- properties -----------------------------------------------------------------------------------


@given(
    runnable_config=json_objects,
    metrics=json_objects,
    metadata=json_objects,
    exact=st.decimals(places=20, allow_nan=False, allow_infinity=False),
)
def test_property_round_trip(
    provision_storage: ProvisionStorage,
    runnable_config: dict[str, Any],
    metrics: dict[str, Any],
    metadata: dict[str, Any],
    exact: Decimal,
) -> None:
    async def body() -> None:
        async with provision_storage() as storage:
            cp = await storage.agentensor.record_checkpoint(
                workflow_id="wf",
                runnable_config=runnable_config,
                metrics={**metrics, "exact": exact, "big": 2**90},
                metadata={**metadata, "deep": nested(60)},
                artifact_url="s3://bucket/\u00e9t\u00e9.bin",
            )
            got = await storage.agentensor.get_checkpoint(cp.id)
            assert got == cp
            assert got.runnable_config == normalise_json(runnable_config)
            assert got.metrics["exact"] == normalise_json(exact)
            assert got.metrics["big"] == 2**90
            assert got.metadata == normalise_json({**metadata, "deep": nested(60)})
            assert got.created_at == cp.created_at

    run(body())


@given(bad=hostile_json(), bad_text=hostile_text())
def test_property_hostile_input_rejected(
    provision_storage: ProvisionStorage, bad: dict[str, Any], bad_text: str
) -> None:
    async def body() -> None:
        async with provision_storage() as storage:
            store = storage.agentensor
            with pytest.raises(ValidationError):
                await store.record_checkpoint(workflow_id="wf", metrics=bad, is_best=True)
            with pytest.raises(ValidationError):
                await store.record_checkpoint(workflow_id="wf", runnable_config=bad)
            with pytest.raises(ValidationError):
                await store.record_checkpoint(workflow_id="wf", artifact_url=bad_text)
            assert await store.list_checkpoints("wf") == []
            first = await store.record_checkpoint(workflow_id="wf")
            assert first.config_version == 1

    run(body())


# --- state machine --------------------------------------------------------------------------------


class AgentensorMachine(AsyncStateMachine):
    """Record/mark-best sequences over two workflows against a small list model."""

    WORKFLOWS = ("wf-a", "wf-b")

    def __init__(self, provision: ProvisionStorage) -> None:
        super().__init__(provision)
        # workflow -> {checkpoint id: config_version}; best per workflow
        self.versions: dict[str, dict[uuid.UUID, int]] = {w: {} for w in self.WORKFLOWS}
        self.best: dict[str, uuid.UUID | None] = dict.fromkeys(self.WORKFLOWS)

    @rule(workflow=st.sampled_from(WORKFLOWS), is_best=st.booleans())
    def record(self, workflow: str, is_best: bool) -> None:
        cp = self.call(
            self.storage.agentensor.record_checkpoint(workflow_id=workflow, is_best=is_best)
        )
        expected = max(self.versions[workflow].values(), default=0) + 1
        assert cp.config_version == expected
        self.versions[workflow][cp.id] = cp.config_version
        if is_best:
            self.best[workflow] = cp.id

    @rule(workflow=st.sampled_from(WORKFLOWS), bump=st.integers(min_value=1, max_value=3))
    def record_explicit(self, workflow: str, bump: int) -> None:
        version = max(self.versions[workflow].values(), default=0) + bump
        cp = self.call(
            self.storage.agentensor.record_checkpoint(workflow_id=workflow, config_version=version)
        )
        assert cp.config_version == version
        self.versions[workflow][cp.id] = version

    @precondition(lambda self: any(self.versions.values()))
    @rule(data=st.data())
    def record_duplicate(self, data: st.DataObject) -> None:
        workflow = data.draw(st.sampled_from([w for w in self.WORKFLOWS if self.versions[w]]))
        version = data.draw(st.sampled_from(list(self.versions[workflow].values())))
        with pytest.raises(DuplicateError):
            self.call(
                self.storage.agentensor.record_checkpoint(
                    workflow_id=workflow, config_version=version, is_best=True
                )
            )

    @precondition(lambda self: any(self.versions.values()))
    @rule(data=st.data())
    def mark_best(self, data: st.DataObject) -> None:
        workflow = data.draw(st.sampled_from([w for w in self.WORKFLOWS if self.versions[w]]))
        cp_id = data.draw(st.sampled_from(list(self.versions[workflow])))
        marked = self.call(self.storage.agentensor.mark_best(cp_id))
        assert marked.is_best
        self.best[workflow] = cp_id

    @invariant()
    def one_best_and_order_match_model(self) -> None:
        for workflow in self.WORKFLOWS:
            listed = self.call(self.storage.agentensor.list_checkpoints(workflow, limit=1000))
            note(f"{workflow}: {[(c.config_version, c.is_best) for c in listed]}")
            expected = sorted(self.versions[workflow].values(), reverse=True)
            assert [c.config_version for c in listed] == expected
            bests = [c.id for c in listed if c.is_best]
            assert len(bests) <= 1
            assert bests == ([] if self.best[workflow] is None else [self.best[workflow]])
            best = self.call(self.storage.agentensor.best_checkpoint(workflow))
            assert (best.id if best else None) == self.best[workflow]
            latest = self.call(self.storage.agentensor.latest_checkpoint(workflow))
            assert latest == (listed[0] if listed else None)


def test_agentensor_state_machine(provision_storage: ProvisionStorage) -> None:
    run_machine(AgentensorMachine, provision_storage)
