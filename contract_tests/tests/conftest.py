"""The contract suite's own tests: make ``broken_backends`` importable, print the table."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from broken_backends import caught_table  # type: ignore[import-not-found,unused-ignore]  # noqa: E402


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    caught = caught_table(config)
    if not caught:
        return
    tr = terminalreporter
    tr.section("broken variants: which contract tests caught them")
    for name, row in sorted(caught.items()):
        tests = ", ".join(row["caught_by"]) or "NOT CAUGHT"
        tr.write_line(f"{name:<28} {row['failed']:>3} failed  {tests}")
