"""``orcheo-storage demo``: write and read back data in every subsystem, then print a report.

Runs on the configured backends (SQLite by default). When the SQLite plugin is not
installed or does not load and no ``--backend`` was given, the demo runs on the
in-memory backend instead and says so.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass
from typing import Any

import typer
from rich.table import Table

from orcheo_storage.cli._common import (
    EXIT_PROBLEMS,
    BackendOption,
    DataDirOption,
    JsonOption,
    print_json,
    reported_errors,
    settings_from_options,
    stdout,
)
from orcheo_storage.cli.demo_steps import STEPS, DemoContext, DemoSkip
from orcheo_storage.errors import PluginError
from orcheo_storage.plugins.registry import BackendRegistry, create_registry
from orcheo_storage.settings import BACKEND_SETTINGS, StorageSettings
from orcheo_storage.storage import open_storage

FALLBACK_FROM = "sqlite"
FALLBACK_TO = "memory"


@dataclass
class StepResult:
    subsystem: str
    label: str
    backend: str
    status: str  # "ok", "failed" or "skipped"
    detail: str
    seconds: float


def with_fallback(
    settings: StorageSettings, registry: BackendRegistry
) -> tuple[StorageSettings, str | None]:
    """Swap an unavailable SQLite backend for memory.

    Returns:
        The settings to use and, when the swap happened, a note explaining why.
    """
    if FALLBACK_FROM not in settings.selected_backends().values():
        return settings, None
    try:
        registry.get(FALLBACK_FROM)
    except PluginError as exc:
        update = {f: FALLBACK_TO for f in BACKEND_SETTINGS if getattr(settings, f) == FALLBACK_FROM}
        note = (
            f"The {FALLBACK_FROM} backend is not available ({exc}). "
            f"The demo runs on the in-memory backend instead: nothing it writes is kept."
        )
        return settings.model_copy(update=update), note
    return settings, None


async def run_demo(settings: StorageSettings, registry: BackendRegistry) -> list[StepResult]:
    """Open storage for ``settings`` and run every step; a failed step does not stop the others.

    Raises:
        ConfigurationError: a selected backend is unknown, not installed or broken.
    """
    results: list[StepResult] = []
    ctx = DemoContext()
    async with open_storage(settings, registry=registry) as storage:
        names = storage.backend_names()
        for subsystem, label, step in STEPS:
            started = time.perf_counter()
            try:
                detail, status = await step(storage, ctx), "ok"
            except DemoSkip as exc:
                detail, status = f"skipped: {exc}", "skipped"
            except Exception as exc:
                detail, status = f"{type(exc).__name__}: {exc}", "failed"
            elapsed = time.perf_counter() - started
            results.append(
                StepResult(subsystem.value, label, names[subsystem.value], status, detail, elapsed)
            )
    return results


def demo(
    backend: BackendOption = None, data_dir: DataDirOption = None, json_output: JsonOption = False
) -> None:
    """Write and read back data in every storage subsystem and print a short report.

    Default backend: SQLite (files under --data-dir, else the ORCHEO_*_PATH settings).
    Exits 1 when any check fails.
    """
    settings = settings_from_options(backend, data_dir)
    with reported_errors():
        registry = create_registry(strict=settings.plugins_strict)
        note = None
        if backend is None:
            settings, note = with_fallback(settings, registry)
        results = asyncio.run(run_demo(settings, registry))
    failed = [r for r in results if r.status == "failed"]
    if json_output:
        print_json(_as_json(settings, note, results))
    else:
        _render(settings, note, results)
    if failed:
        raise typer.Exit(EXIT_PROBLEMS)


def _as_json(
    settings: StorageSettings, note: str | None, results: list[StepResult]
) -> dict[str, Any]:
    return {
        "backends": {s.value: n for s, n in settings.selected_backends().items()},
        "fallback": note,
        "steps": [asdict(r) for r in results],
        "ok": all(r.status != "failed" for r in results),
    }


def _render(settings: StorageSettings, note: str | None, results: list[StepResult]) -> None:
    console = stdout()
    if note:
        console.print(f"note: {note}", markup=False, style="yellow")
    used = sorted(set(settings.selected_backends().values()))
    table = Table(title=f"Orcheo storage demo on {', '.join(used)}")
    for column in ("subsystem", "backend", "result", "what was written and read back", "ms"):
        table.add_column(column, overflow="fold")
    style = {"ok": "green", "failed": "bold red", "skipped": "yellow"}
    for r in results:
        table.add_row(
            r.label,
            r.backend,
            f"[{style[r.status]}]{r.status}[/]",
            r.detail,
            f"{r.seconds * 1000:.1f}",
        )
    console.print(table)
    failed = sum(r.status == "failed" for r in results)
    ok = sum(r.status == "ok" for r in results)
    console.print(f"demo: {ok}/{len(results)} subsystems ok, {failed} failed", markup=False)
    if FALLBACK_FROM in used:
        paths = {
            "workflows": settings.repository_sqlite_path,
            "chatkit": settings.chatkit_sqlite_path,
            "vault": settings.vault_local_path,
            "service tokens": settings.token_db_path(),
        }
        for label, path in paths.items():
            console.print(f"  {label}: {path.expanduser()}", markup=False)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
