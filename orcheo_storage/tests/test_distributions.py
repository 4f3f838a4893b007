"""``storage_distributions``: what ``orcheo-storage --version`` lists, read from metadata only."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest
from orcheo_storage.plugins.distributions import (
    StorageDistribution,
    normalise,
    storage_distributions,
)


def _dist(folder: Path, name: str, version: str, entry_points: str = "") -> None:
    info = folder / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    if entry_points:
        (info / "entry_points.txt").write_text(entry_points)


def test_the_workspace_lists_core_first_then_every_storage_distribution() -> None:
    found = storage_distributions()
    assert found[0].name == "orcheo-storage"
    assert "memory" in found[0].backends
    by_name = {d.name: d for d in found}
    assert by_name["orcheo-storage-sqlite"].backends == ("sqlite",)
    assert by_name["orcheo-storage-postgres"].backends == ("postgres",)
    assert by_name["orcheo-storage-contract-tests"].backends == ()
    assert [d.name for d in found[1:]] == sorted(d.name for d in found[1:])
    assert not {"pydantic", "pluggy", "typer"} & set(by_name)


def test_third_party_backends_and_names_in_any_spelling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tag = uuid.uuid4().hex[:6]
    _dist(tmp_path, f"Orcheo_Storage.Extra{tag}", "2.0.0")
    _dist(tmp_path, f"acme-store-{tag}", "0.9", f"[orcheo.storage]\nacme{tag} = acme.plugin\n")
    _dist(tmp_path, f"unrelated-{tag}", "1.0", "[console_scripts]\nx = y:z\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    by_name = {d.name: d for d in storage_distributions()}
    assert by_name[f"orcheo-storage-extra{tag}"] == StorageDistribution(
        f"orcheo-storage-extra{tag}", "2.0.0"
    )
    assert by_name[f"acme-store-{tag}"].describe() == f"acme-store-{tag} 0.9 (backends: acme{tag})"
    assert f"unrelated-{tag}" not in by_name


def test_a_distribution_found_twice_is_listed_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tag = uuid.uuid4().hex[:6]
    _dist(tmp_path / "first", f"orcheo-storage-twice{tag}", "1.0")
    _dist(tmp_path / "second", f"orcheo-storage-twice{tag}", "9.0")
    monkeypatch.setattr(sys, "path", [str(tmp_path / "first"), str(tmp_path / "second"), *sys.path])
    versions = [d.version for d in storage_distributions() if d.name.endswith(tag)]
    assert versions == ["1.0"]


def test_names_are_normalised_as_pep_503_says() -> None:
    assert normalise("Orcheo_Storage.Postgres") == "orcheo-storage-postgres"
    assert normalise("orcheo--storage__x") == "orcheo-storage-x"
