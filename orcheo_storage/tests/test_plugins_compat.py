"""A plugin distribution built for another core is reported as broken, not imported.

(pip refuses such a pair when it resolves both together; ``pip install -U orcheo-storage``
alone only warns. ``tests/test_wheels.py`` shows that case with real wheels.)
"""

from __future__ import annotations

import uuid
from importlib.metadata import version
from pathlib import Path

import pytest
from importlib_metadata import PathDistribution
from orcheo_storage.errors import BackendBrokenError
from orcheo_storage.plugins import create_registry
from orcheo_storage.plugins.compat import core_mismatch

CORE = version("orcheo-storage")


def _dist(folder: Path, name: str, requires: list[str], module: str | None = None) -> Path:
    info = folder / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    lines = ["Metadata-Version: 2.1", f"Name: {name}", "Version: 1.0"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    (info / "METADATA").write_text("\n".join(lines) + "\n")
    if module is not None:
        (info / "entry_points.txt").write_text(f"[orcheo.storage]\n{module} = {module}.plugin\n")
    return info


@pytest.mark.parametrize(
    "requires",
    [
        [],
        ["orcheo-storage>=0.1"],
        [f"orcheo-storage[chatkit]=={CORE}", "aiosqlite>=0.20"],
        ["orcheo-storage>=99; extra == 'future'"],  # only with an extra nobody asked for
        ["Orcheo_Storage!=0.0.0"],
        ["not a requirement !!"],
    ],
)
def test_fitting_or_unrelated_requirements_pass(tmp_path: Path, requires: list[str]) -> None:
    assert core_mismatch(PathDistribution(_dist(tmp_path, "acme-store", requires))) is None


def test_a_range_excluding_the_installed_core_is_explained(tmp_path: Path) -> None:
    dist = PathDistribution(_dist(tmp_path, "acme-store", ["orcheo-storage[chatkit]<0.0.1,>=0.0"]))
    assert core_mismatch(dist) == (
        f"acme-store 1.0 requires orcheo-storage<0.0.1,>=0.0, but orcheo-storage {CORE} is "
        "installed; install versions that fit together (pip install "
        "'orcheo-storage<0.0.1,>=0.0', or a release of acme-store made for "
        f"orcheo-storage {CORE})"
    )
    assert core_mismatch(None) is None


def test_discovery_reports_it_broken_without_importing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = f"acme{uuid.uuid4().hex[:6]}"  # no such module: importing it would fail otherwise
    _dist(tmp_path, f"orcheo-storage-{module}", ["orcheo-storage>=99,<100"], module)
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = create_registry()
    (failure,) = [f for f in registry.failures() if f.name == module]
    assert failure.reason.startswith(
        f"orcheo-storage-{module} 1.0 requires orcheo-storage<100,>=99, but orcheo-storage "
        f"{CORE} is installed"
    )
    assert "No module named" not in failure.reason
    with pytest.raises(BackendBrokenError, match="requires orcheo-storage<100,>=99"):
        registry.get(module)
    with pytest.raises(BackendBrokenError, match="requires orcheo-storage<100,>=99"):
        create_registry(strict=True)
