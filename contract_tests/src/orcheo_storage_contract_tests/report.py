"""The conformance report: per-subsystem outcomes as JSON, and a summary table."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from orcheo_storage_contract_tests.plugin import ContractRun

_RANK = {"passed": 0, "skipped": 1, "failed": 2}


def suite_version() -> str:
    try:
        return metadata.version("orcheo-storage-contract-tests")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a checkout
        return "0+unknown"


def subsystem_of(nodeid: str) -> str:
    """``.../suite/test_workflows.py::test_x`` -> ``workflows``."""
    module = nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
    return module.removesuffix(".py").removeprefix("test_")


class ConformanceReporter:
    """A pytest plugin object collecting one outcome per test (worst phase wins)."""

    def __init__(self, config: pytest.Config, run: ContractRun) -> None:
        self._config = config
        self._run = run
        self._outcomes: dict[str, tuple[str, str | None]] = {}
        self._started = datetime.now(UTC)
        self._clock = time.monotonic()
        self.report: dict[str, Any] | None = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.passed and report.when != "call":
            return
        outcome = "failed" if report.failed else "skipped" if report.skipped else "passed"
        reason = None
        if report.skipped and isinstance(report.longrepr, tuple):
            reason = str(report.longrepr[2]).removeprefix("Skipped: ")
        previous = self._outcomes.get(report.nodeid)
        if previous is None or _RANK[outcome] > _RANK[previous[0]]:
            self._outcomes[report.nodeid] = (outcome, reason)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        # A module that fails to import is a failed subsystem, not a silently smaller one.
        if report.failed:
            self._outcomes[report.nodeid or "<collection>"] = ("failed", None)

    def build(self) -> dict[str, Any]:
        """The report as a JSON-ready dict."""
        manifest = self._run.backend(self._config).manifest
        subsystems: dict[str, dict[str, Any]] = {}
        for nodeid, (outcome, reason) in sorted(self._outcomes.items()):
            entry = subsystems.setdefault(
                subsystem_of(nodeid),
                {"passed": 0, "failed": 0, "skipped": 0, "skipped_reasons": []},
            )
            entry[outcome] += 1
            if reason and reason not in entry["skipped_reasons"]:
                entry["skipped_reasons"].append(reason)
        totals = {
            k: sum(s[k] for s in subsystems.values()) for k in ("passed", "failed", "skipped")
        }
        return {
            "suite_version": suite_version(),
            "backend": {
                "name": manifest.name,
                "distribution": manifest.distribution,
                "version": manifest.version,
                "api_version": manifest.api_version,
                "capabilities": sorted(c.value for c in manifest.capabilities),
            },
            "profile": self._run.profile,
            "started_at": self._started.isoformat(),
            "duration_s": round(time.monotonic() - self._clock, 3),
            "subsystems": subsystems,
            "totals": totals,
        }

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(self._config, "workerinput"):
            return  # xdist workers forward their reports; the controller writes the file
        self.report = self.build()
        path = self._run.report_path
        if not path.is_absolute():
            path = Path(self._config.invocation_params.dir) / path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.report, indent=2) + "\n", encoding="utf-8")
        self._written = path

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.report is None:
            return
        tr = terminalreporter
        backend = self.report["backend"]
        tr.section(f"orcheo storage conformance: {backend['name']} {backend['version']}")
        tr.write_line(f"{'subsystem':<16}{'passed':>8}{'failed':>8}{'skipped':>8}")
        for name, entry in sorted(self.report["subsystems"].items()):
            tr.write_line(
                f"{name:<16}{entry['passed']:>8}{entry['failed']:>8}{entry['skipped']:>8}"
            )
        totals = self.report["totals"]
        tr.write_line(
            f"{'total':<16}{totals['passed']:>8}{totals['failed']:>8}{totals['skipped']:>8}"
        )
        tr.write_line(f"report: {self._written}")
