"""Contract: hostile arguments at every public store method (DOMAIN.md section 0, issue 13).

Two tests per store surface (the protocols, the credential vault, the ChatKit store):

* every method, each checked parameter in turn given each hostile value of its kind, in a
  seeded namespace: only ``ValidationError`` comes back, and nothing was written;
* a property test: Hypothesis draws short call sequences mixing benign, unknown and hostile
  arguments; only ``orcheo_storage.errors`` types escape, a call that raised wrote nothing,
  and the comparison backend (``--orcheo-compare-backend``) gives the same outcome for every
  call (the differential run).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st
from orcheo_storage.errors import StorageError, ValidationError
from orcheo_storage.protocols.backend import BackendManifest
from orcheo_storage.storage import Storage

from orcheo_storage_contract_tests._runner import ProvisionStorage, run
from orcheo_storage_contract_tests.hostile import (
    GATED,
    SURFACE_TABLES,
    SURFACES,
    Method,
    Seed,
    benign,
    call,
    hostile_values,
    methods,
    seed,
    snapshot,
    values_for,
)

Plan = tuple[str, tuple[tuple[str, Any], ...]]
"""A drawn call: the method name and, per parameter, ``"benign"``, ``"unknown"`` or an
index into the parameter's hostile values (the same plan is replayed on both backends)."""


def _callable(manifests: list[BackendManifest], surface: str) -> list[Method]:
    found = []
    for method in methods(surface):
        needed = GATED.get((surface, method.name))
        if needed is None or all(needed in m.capabilities for m in manifests):
            found.append(method)
    return found


def _describe(value: Any) -> str:
    return repr(value)[:80]


@pytest.mark.parametrize("surface", list(SURFACES))
@pytest.mark.asyncio
async def test_every_method_rejects_hostile_arguments(storage: Storage, surface: str) -> None:
    seeded = await seed(storage, surface)
    before = await snapshot(storage)
    problems: list[str] = []
    checked = 0
    for method in methods(surface):
        for param in method.params:
            for value in hostile_values(param):
                values = values_for(method, seeded)
                values[param.name] = value
                where = f"{method.label}({param.name}={_describe(value)})"
                checked += 1
                try:
                    await call(storage, method, values)
                except ValidationError:
                    continue
                except StorageError as exc:
                    problems.append(f"{where}: {type(exc).__name__}: {exc}")
                except Exception as exc:  # the contract: nothing else may escape
                    problems.append(f"{where}: raw {type(exc).__name__}: {exc}")
                else:
                    problems.append(f"{where}: accepted")
    assert checked > 0
    assert not problems, "\n".join(problems)
    assert await snapshot(storage) == before, "a rejected call wrote something"


def _plans(surface_methods: list[Method]) -> st.SearchStrategy[Plan]:
    def for_method(method: Method) -> st.SearchStrategy[Plan]:
        choices = []
        for param in method.params:
            options: list[Any] = ["benign", "unknown"]
            options += list(range(len(hostile_values(param))))
            choices.append(st.tuples(st.just(param.name), st.sampled_from(options)))
        return st.tuples(st.just(method.name), st.tuples(*choices))

    return st.one_of([for_method(m) for m in surface_methods])


def _values(method: Method, choices: tuple[tuple[str, Any], ...], seeded: Seed) -> dict[str, Any]:
    values = values_for(method, seeded)
    params = {p.name: p for p in method.params}
    for name, choice in choices:
        param = params[name]
        if choice == "unknown":
            unknown = benign(method, param, seeded, unknown=True)
            if unknown is not None:
                values[name] = unknown
        elif choice != "benign":
            values[name] = hostile_values(param)[choice]
    return values


async def _play(storage: Storage, surface: str, plans: list[Plan]) -> list[str]:
    seeded = await seed(storage, surface)
    by_name = {m.name: m for m in methods(surface)}
    tables = SURFACE_TABLES[surface]
    outcomes = []
    for name, choices in plans:
        method = by_name[name]
        before = await snapshot(storage, tables)
        error: StorageError | None = None
        try:
            await call(storage, method, _values(method, choices, seeded))
        except StorageError as exc:
            error = exc
        except Exception as exc:
            raise AssertionError(
                f"{method.label}: raw {type(exc).__name__} escaped: {exc}"
            ) from exc
        outcomes.append("ok" if error is None else type(error).__name__)
        if error is not None:
            after = await snapshot(storage, tables)
            assert after == before, f"{method.label} raised {error!r} but wrote"
    return outcomes


@pytest.mark.parametrize("surface", list(SURFACES))
def test_hostile_calls_same_outcome_on_both_backends(
    provision_storage: ProvisionStorage,
    provision_compare: ProvisionStorage,
    backend_manifest: BackendManifest,
    compare_manifest: BackendManifest,
    surface: str,
) -> None:
    surface_methods = _callable([backend_manifest, compare_manifest], surface)

    # Provisioning two namespaces is most of an example's cost: half the profile's examples,
    # each a longer call sequence.
    profile = settings.default

    @settings(max_examples=max(1, (profile.max_examples if profile else 10) // 2))
    @given(plans=st.lists(_plans(surface_methods), min_size=1, max_size=6))
    def check(plans: list[Plan]) -> None:
        async def body() -> None:
            async with provision_storage() as storage:
                ours = await _play(storage, surface, plans)
            async with provision_compare() as storage:
                theirs = await _play(storage, surface, plans)
            for plan, a, b in zip(plans, ours, theirs, strict=True):
                note(f"{surface}.{plan[0]} {plan[1]} -> {a}")
                assert a == b, f"{surface}.{plan[0]} {plan[1]}: backend {a}, comparison {b}"

        run(body())

    check()
