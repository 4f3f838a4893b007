"""``orcheo-storage contract-test NAME``: run the contract suite against a backend.

The suite lives in the separate ``orcheo-storage-contract-tests`` distribution; it is
imported only when this command runs.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

INSTALL_HINT = "pip install orcheo-storage-contract-tests"


def contract_test(
    backend: Annotated[str, typer.Argument(help="Name of the backend plugin to test.")],
    setting: Annotated[
        list[str] | None,
        typer.Option(
            "--setting",
            "-s",
            help="KEY=VALUE settings override (repeatable), e.g. postgres_dsn=...",
        ),
    ] = None,
    profile: Annotated[str, typer.Option(help="Hypothesis profile: default or deep.")] = "default",
    report: Annotated[str, typer.Option(help="Where to write the JSON conformance report.")] = (
        "conformance-report.json"
    ),
    pytest_args: Annotated[
        list[str] | None,
        typer.Argument(help="Extra pytest arguments (after --).", show_default=False),
    ] = None,
) -> None:
    """Run the contract suite against BACKEND and write a conformance report."""
    # Located, not imported: pytest must import the suite itself so it can rewrite its asserts.
    spec = importlib.util.find_spec("orcheo_storage_contract_tests")
    if spec is None or spec.origin is None:
        typer.echo(f"the contract suite is not installed: {INSTALL_HINT}", err=True)
        raise typer.Exit(2)
    suite_dir = Path(spec.origin).parent / "suite"
    overrides: dict[str, str] = {}
    for item in setting or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            typer.echo(f"--setting expects KEY=VALUE, got {item.split('=', 1)[0]!r}", err=True)
            raise typer.Exit(2)
        overrides[key.strip()] = value
    if profile not in {"default", "deep"}:
        typer.echo("--profile must be 'default' or 'deep'", err=True)
        raise typer.Exit(2)
    args = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "orcheo_storage_contract_tests.plugin",
        f"--orcheo-backend={backend}",
        f"--orcheo-profile={profile}",
        f"--orcheo-report={report}",
        *(f"--orcheo-setting={k}={v}" for k, v in overrides.items()),
        *(pytest_args or []),
        str(suite_dir),
    ]
    raise typer.Exit(subprocess.call(args))


def register(app: typer.Typer) -> None:
    app.command("contract-test")(contract_test)
