"""``orcheo-storage --version``: every installed storage distribution and its version."""

from __future__ import annotations

from importlib.metadata import version

from orcheo_storage.cli.app import app
from typer.testing import CliRunner


def test_version_lists_every_storage_distribution_with_its_backends() -> None:
    result = CliRunner().invoke(app, ["--version"], catch_exceptions=False)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    core = version("orcheo-storage")
    assert lines[0] == f"orcheo-storage {core} (backends: memory)"
    for line in (
        f"orcheo-storage-sqlite {version('orcheo-storage-sqlite')} (backends: sqlite)",
        f"orcheo-storage-postgres {version('orcheo-storage-postgres')} (backends: postgres)",
        f"orcheo-storage-contract-tests {version('orcheo-storage-contract-tests')}",
    ):
        assert line in lines
    assert len(lines) == len(set(lines))


def test_version_wins_over_a_command_and_runs_none() -> None:
    result = CliRunner().invoke(app, ["--version", "doctor"], catch_exceptions=False)
    assert result.exit_code == 0
    assert result.stdout.startswith("orcheo-storage ")
    assert "Effective settings" not in result.stdout
