"""The runnable-config merge and the run state machine."""

from __future__ import annotations

import copy
import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from orcheo_storage.errors import InvalidTransitionError, ValidationError
from orcheo_storage.models.workflows import RunStatus
from orcheo_storage.rules.runs import (
    MERGED_MAPPINGS,
    RUN_TRANSITIONS,
    TERMINAL_RUN_STATES,
    merge_runnable_config,
    new_run,
    transition_run,
)

NOW = datetime(2026, 3, 4, 5, 6, 7, 89, tzinfo=UTC)
keys = st.sampled_from(
    [
        "configurable",
        "metadata",
        "tags",
        "callbacks",
        "run_name",
        "recursion_limit",
        "max_concurrency",
        "x",
    ]
)
leaf = st.none() | st.booleans() | st.integers() | st.text(alphabet="xyz é", max_size=5)
small_maps = st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), leaf, max_size=4)
values = leaf | small_maps | st.lists(leaf, max_size=3)
configs = st.dictionaries(keys, values, max_size=6)


@given(configs, configs)
def test_merge_override_wins_and_two_mappings_merge_key_by_key(
    base: dict[str, Any], override: dict[str, Any]
) -> None:
    base_copy, override_copy = copy.deepcopy(base), copy.deepcopy(override)
    merged = merge_runnable_config(base, override)
    assert (base, override) == (base_copy, override_copy)  # inputs untouched
    assert set(merged) == set(base) | set(override)
    for key in merged:
        if key not in override:
            assert merged[key] == base[key]
        elif (
            key in MERGED_MAPPINGS
            and isinstance(base.get(key), dict)
            and isinstance(override[key], dict)
        ):
            assert merged[key] == {**base[key], **override[key]}
            for inner, value in override[key].items():
                inside = merged[key]
                assert isinstance(inside, dict)
                assert inside[inner] == value  # override wins inside the mapping too
        else:
            assert merged[key] == override[key]  # replaced whole


@given(configs)
def test_merge_identities(config: dict[str, Any]) -> None:
    assert merge_runnable_config(config, None) == config
    assert merge_runnable_config(None, config) == config
    assert merge_runnable_config(config, config) == config


def test_merge_example_from_the_domain() -> None:
    base = {
        "configurable": {"model": "a", "temperature": 0.2},
        "metadata": {"team": "x"},
        "tags": ["base"],
        "recursion_limit": 10,
    }
    override = {"configurable": {"temperature": 0.0}, "tags": ["run"], "max_concurrency": 2}
    assert merge_runnable_config(base, override) == {
        "configurable": {"model": "a", "temperature": 0.0},
        "metadata": {"team": "x"},
        "tags": ["run"],
        "recursion_limit": 10,
        "max_concurrency": 2,
    }


def test_merge_rejects_hostile_override() -> None:
    with pytest.raises(ValidationError) as info:
        merge_runnable_config({}, {"configurable": {"k": float("nan")}})
    assert info.value.field == "runnable_config.configurable.k"


def test_state_machine_is_exactly_the_documented_one() -> None:
    allowed = {(a, b) for a, targets in RUN_TRANSITIONS.items() for b in targets}
    P, R, S, F, C = (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.SUCCEEDED,
                     RunStatus.FAILED, RunStatus.CANCELLED)  # fmt: skip
    assert allowed == {(P, R), (R, S), (P, F), (R, F), (P, C), (R, C)}
    assert {S, F, C} == TERMINAL_RUN_STATES


def _run() -> Any:
    return new_run(
        workflow_id=uuid.uuid4(),
        version_id=uuid.uuid4(),
        version_config={
            "tags": ["a"],
            "metadata": {"m": 1},
            "run_name": "base",
            "callbacks": [{"h": 1}],
        },
        triggered_by="alice",
        now=NOW,
        input_payload={"q": 2**80},
        runnable_config={"run_name": "override"},
    )


def test_new_run_takes_fields_from_the_merged_config() -> None:
    run = _run()
    assert run.status is RunStatus.PENDING
    assert run.tags == ["a"]
    assert run.metadata == {"m": 1}
    assert run.run_name == "override"
    assert run.callbacks == [{"h": 1}]
    assert run.input_payload == {"q": 2**80}
    assert run.created_at == run.updated_at == NOW
    assert [(e.actor, e.action) for e in run.audit_log] == [("alice", "run_created")]


@pytest.mark.parametrize(("current", "target"), list(itertools.product(RunStatus, RunStatus)))
def test_every_transition_follows_the_table(current: RunStatus, target: RunStatus) -> None:
    run = _run().model_copy(update={"status": current})
    later = NOW + timedelta(seconds=5)
    if target in RUN_TRANSITIONS[current]:
        moved = transition_run(run, target, actor="bob", now=later, output={"ok": 1}, error="e")
        assert moved.status is target
        assert moved.updated_at == later
        assert moved.audit_log[-1].action == f"run_{target.value}"
        assert moved.audit_log[-1].metadata == {"from": current.value, "to": target.value}
        if target is RunStatus.RUNNING:
            assert moved.started_at == later
            assert moved.completed_at is None
        else:
            assert moved.completed_at == later
        assert (moved.output_payload == {"ok": 1}) is (target is RunStatus.SUCCEEDED)
        assert moved.error == "e"
    else:
        with pytest.raises(InvalidTransitionError) as info:
            transition_run(run, target, actor="bob", now=later)
        assert (info.value.current, info.value.target) == (current.value, target.value)
        assert str(info.value) == (
            f"cannot move workflow run {run.id} from {current.value!r} to {target.value!r}"
        )
