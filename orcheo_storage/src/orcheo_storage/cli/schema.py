"""``orcheo-storage migrate-schema``: apply (or only list) pending schema steps per backend."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from orcheo_storage.cli._common import (
    BackendOption,
    DataDirOption,
    JsonOption,
    print_json,
    reported_errors,
    settings_from_options,
    stdout,
)
from orcheo_storage.plugins.registry import create_registry
from orcheo_storage.settings import StorageSettings

PlanOption = Annotated[
    bool, typer.Option("--plan", help="Only list the pending steps; change nothing.")
]


async def migrate_schemas(settings: StorageSettings, *, plan: bool) -> dict[str, list[str]]:
    """Run ``migrate_schema(dry_run=plan)`` on every selected backend, one session each.

    Backends are opened with ``auto_migrate`` off so that ``--plan`` really changes nothing.

    Returns:
        Backend name -> names of the steps applied (or pending, with ``plan``).

    Raises:
        ConfigurationError: a selected backend is unknown, not installed or broken.
    """
    registry = create_registry(strict=settings.plugins_strict)
    probe = settings.model_copy(update={"auto_migrate": False})
    result: dict[str, list[str]] = {}
    for name in dict.fromkeys(settings.selected_backends().values()):
        backend = registry.get(name)
        session = await backend.open(probe)
        try:
            result[name] = list(await session.migrate_schema(dry_run=plan))
        finally:
            await session.close()
    return result


def migrate_schema(
    plan: PlanOption = False,
    backend: BackendOption = None,
    data_dir: DataDirOption = None,
    json_output: JsonOption = False,
) -> None:
    """Apply pending schema migrations of the selected backends (or print the plan)."""
    settings = settings_from_options(backend, data_dir)
    with reported_errors():
        result = asyncio.run(migrate_schemas(settings, plan=plan))
    if json_output:
        print_json({"plan": plan, "backends": result})
        return
    console = stdout()
    verb = "pending" if plan else "applied"
    for name, steps in result.items():
        if not steps:
            console.print(f"{name}: schema is up to date", markup=False)
            continue
        console.print(f"{name}: {len(steps)} step(s) {verb}", markup=False)
        for step in steps:
            console.print(f"  - {step}", markup=False)


def register(app: typer.Typer) -> None:
    app.command("migrate-schema")(migrate_schema)
