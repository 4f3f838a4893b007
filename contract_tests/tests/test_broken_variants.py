"""Proof that the contract suite catches broken backends.

The bundled suite is run in subprocesses, exactly as a backend author runs it, each
variant installed through an ``orcheo.storage`` entry point of a distribution
(``orcheo-storage-broken-variants``, metadata written by ``write_distribution``): the
whole suite against the unbroken control (the same wrapper machinery, no bug), which
must pass; then, for each broken variant of the memory backend in
``broken_backends.py``, the suite module of the subsystem the bug lives in, which must
fail. The tests that failed are the variant's "caught by" list, printed in the summary.
(The variant runs are limited to one module each, to keep this proof to a few minutes on
two cores for 33 variants; run ``pytest -p broken_backends --orcheo-backend=broken-<name>``
with ``contract_tests/tests`` on ``PYTHONPATH`` to see a variant against the whole suite.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import orcheo_storage_contract_tests
import pytest
from broken_backends import (  # type: ignore[import-not-found,unused-ignore]
    CONTROL,
    VARIANTS,
    Variant,
    caught_table,
    write_distribution,
)

HERE = Path(__file__).parent
SUITE = Path(orcheo_storage_contract_tests.__file__).parent / "suite"
WORKERS = 2

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class SuiteRun:
    exit_code: int
    failed: frozenset[str]
    passed: int
    output: str


def run_suite(variant: Variant, workdir: Path, installed: Path) -> SuiteRun:
    """Run the suite (or the variant's module) against ``broken-<variant>`` in a fresh
    pytest process. The variant is discovered through its ``orcheo.storage`` entry point,
    from the distribution metadata in ``installed``, like any pip-installed backend."""
    workdir.mkdir(parents=True, exist_ok=True)
    junit = workdir / "junit.xml"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(installed), str(HERE), os.environ.get("PYTHONPATH", "")]
        ),
        # The proof needs to know that a test fails, not the smallest failing program.
        "ORCHEO_CONTRACT_NO_SHRINK": "1",
    }
    env.pop("ORCHEO_CONTRACT_BACKEND", None)
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "orcheo_storage_contract_tests.plugin",
        f"--orcheo-backend=broken-{variant.name}",
        f"--orcheo-report={workdir / 'report.json'}",
        f"--junitxml={junit}",
        "-p",
        "no:cacheprovider",
        "-q",
        str(SUITE / variant.module) if variant.module else str(SUITE),
    ]
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=900)
    failed: set[str] = set()
    passed = 0
    if junit.exists():
        for case in ET.parse(junit).getroot().iter("testcase"):
            name = f"{case.get('classname', '').rsplit('.', 1)[-1]}.py::{case.get('name')}"
            if case.find("failure") is not None or case.find("error") is not None:
                failed.add(name)
            elif case.find("skipped") is None:
                passed += 1
    return SuiteRun(
        proc.returncode, frozenset(failed), passed, proc.stdout[-4000:] + proc.stderr[-2000:]
    )


@pytest.fixture(scope="session")
def suite_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SuiteRun]:
    """Every run, two at a time (the machine has two cores)."""
    base = tmp_path_factory.mktemp("variants")
    installed = write_distribution(tmp_path_factory.mktemp("site"))
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = {
            v.name: pool.submit(run_suite, v, base / v.name, installed)
            for v in (CONTROL, *VARIANTS)
        }
        return {name: future.result() for name, future in futures.items()}


def test_there_are_at_least_thirty_distinct_variants() -> None:
    assert len(VARIANTS) >= 30
    assert len({v.name for v in VARIANTS}) == len(VARIANTS)
    assert len({v.store for v in VARIANTS}) == len(VARIANTS)


def test_control_passes_the_whole_suite(suite_runs: dict[str, SuiteRun]) -> None:
    control = suite_runs[CONTROL.name]
    assert control.exit_code == 0, control.output
    assert control.failed == frozenset()
    assert control.passed > 200


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_suite_catches_variant(
    variant: Variant, suite_runs: dict[str, SuiteRun], request: pytest.FixtureRequest
) -> None:
    control = suite_runs[CONTROL.name]
    result = suite_runs[variant.name]
    assert result.exit_code == 1, result.output  # 1 = tests failed (not a usage error)
    # Only tests that pass on the control count as catching the bug.
    caught_by = sorted(result.failed - control.failed)
    caught_table(request.config)[variant.name] = {
        "failed": len(result.failed),
        "caught_by": caught_by,
    }
    assert caught_by, f"no test of {variant.module} caught {variant.name}: {sorted(result.failed)}"
    # The test written for this kind of bug must be among them (so a variant that breaks
    # for some other reason does not pass as proof).
    assert variant.expected in caught_by, caught_by
