"""``orcheo-storage backends``: the discovered backend plugins and their load status."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from orcheo_storage.cli._common import (
    EXIT_PROBLEMS,
    JsonOption,
    print_json,
    stderr,
    stdout,
)
from orcheo_storage.errors import ConfigurationError
from orcheo_storage.plugins.registry import create_registry
from orcheo_storage.settings import load_settings


def backend_rows() -> list[dict[str, Any]]:
    """One row per discovered plugin, loaded or broken (see ``BackendRegistry.describe``).

    Discovery here is never strict, so every plugin is listed even when one is broken.
    """
    return create_registry(strict=False).describe()


def backends(json_output: JsonOption = False) -> None:
    """List backend plugins: distribution, version, API version, subsystems, capabilities, status.

    Exits 1 when ORCHEO_PLUGINS_STRICT is true and any plugin is broken.
    """
    strict = _strict()
    rows = backend_rows()
    if json_output:
        print_json(rows)
    else:
        _print_table(rows)
    broken = [r["name"] for r in rows if r["status"] != "ok"]
    if broken and strict:
        # stderr, so that --json output stays parseable
        stderr().print(
            f"strict mode (ORCHEO_PLUGINS_STRICT): broken plugins {', '.join(broken)}",
            markup=False,
        )
        raise typer.Exit(EXIT_PROBLEMS)


def _strict() -> bool:
    # Listing plugins must work even when other settings are wrong, so only the strict flag
    # is read here; a settings error is reported as a warning, not a failure.
    try:
        return load_settings().plugins_strict
    except ConfigurationError as exc:
        stderr().print(f"warning: {exc}", markup=False)
        return False


def _print_table(rows: list[dict[str, Any]]) -> None:
    table = Table(title="Orcheo storage backends")
    for column in (
        "name",
        "distribution",
        "version",
        "api",
        "status",
        "subsystems",
        "capabilities",
    ):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row["name"],
            row["distribution"] or "-",
            row["version"] or "-",
            str(row["api_version"]) if row["api_version"] is not None else "-",
            "ok" if row["status"] == "ok" else f"[red]{row['status']}[/]",
            ", ".join(row["subsystems"]) or "-",
            ", ".join(row["capabilities"]) or "-",
        )
    console = stdout()
    console.print(table)
    for row in rows:
        if row["error"]:
            console.print(f"[red]{row['name']}[/]: ", end="")
            console.print(row["error"], markup=False)
    if not rows:
        console.print("no backend plugins found in the 'orcheo.storage' entry-point group")


def register(app: typer.Typer) -> None:
    app.command("backends")(backends)
