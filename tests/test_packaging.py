"""The distributions' metadata: every sibling of the core depends on it with a bounded range
that holds the core's version and refuses the next minor (0.x) or major version, and the
core's console script needs nothing beyond the core's own dependencies."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
DEPENDENTS = ("orcheo_storage_sqlite", "orcheo_storage_postgres", "contract_tests")


def project(folder: str) -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads((ROOT / folder / "pyproject.toml").read_text())
    return data["project"]


CORE_VERSION = Version(project("orcheo_storage")["version"])


def next_breaking(version: Version) -> Version:
    """The first version that may break the API: next minor in 0.x, else next major."""
    if version.major == 0:
        return Version(f"0.{version.minor + 1}")
    return Version(f"{version.major + 1}")


@pytest.mark.parametrize("folder", DEPENDENTS)
def test_dependents_pin_the_core_to_a_bounded_compatible_range(folder: str) -> None:
    (core,) = [
        Requirement(r)
        for r in project(folder)["dependencies"]
        if Requirement(r).name == "orcheo-storage"
    ]
    assert CORE_VERSION in core.specifier
    assert next_breaking(CORE_VERSION) not in core.specifier
    assert Version("0.0.1") not in core.specifier  # a lower bound too
    assert "chatkit" in core.extras  # the backends' ChatKit stores need openai-chatkit
    assert project(folder)["version"] == str(CORE_VERSION)  # released together


def test_the_console_script_needs_no_extra() -> None:
    core = project("orcheo_storage")
    assert core["scripts"] == {"orcheo-storage": "orcheo_storage.cli.app:main"}
    names = {Requirement(r).name for r in core["dependencies"]}
    assert {"typer", "rich"} <= names
    assert core["optional-dependencies"]["cli"] == []  # kept only for old requirement lines
