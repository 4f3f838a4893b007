"""``orcheo-storage doctor``: effective settings, who serves what, connectivity, schema status."""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field
from typing import Any

import typer
from rich.table import Table

from orcheo_storage.cli._common import (
    EXIT_PROBLEMS,
    BackendOption,
    DataDirOption,
    JsonOption,
    print_json,
    settings_from_options,
    stdout,
)
from orcheo_storage.dsn import scrub as scrub_dsn
from orcheo_storage.errors import ForeignFilesError, LegacyFilesError, PluginError
from orcheo_storage.plugins.registry import BackendRegistry, create_registry
from orcheo_storage.plugins.selection import select_backend
from orcheo_storage.protocols.backend import Subsystem
from orcheo_storage.settings import StorageSettings

# A backend may declare LangGraph persistence unsupported (it is a capability); that is worth a
# warning, not a failed check. Any other selected-but-unprovided subsystem is a problem.
OPTIONAL_SUBSYSTEMS = frozenset({Subsystem.LANGGRAPH})
# Layouts of refused files (orcheo_storage.legacy_files.Layout values) and how doctor names them.
LEGACY_KINDS = frozenset({"orcheo-legacy", "mixed"})
LAYOUT_LABELS = {
    "orcheo-legacy": "today's Orcheo layout",
    "mixed": "today's Orcheo tables and this project's in one file",
    "unknown": "unknown layout",
    "not-sqlite": "not a SQLite database",
}


@dataclass
class BackendCheck:
    """What doctor learnt about one selected backend."""

    name: str
    subsystems: list[str]
    plugin: str | None = None
    healthy: bool | None = None
    health: dict[str, str] = field(default_factory=dict)
    schema_current: int | None = None
    schema_latest: int | None = None
    schema_pending: list[str] = field(default_factory=list)
    # files the backend refused to open: path -> layout ("orcheo-legacy", "mixed", ...)
    foreign_files: dict[str, str] = field(default_factory=dict)
    migrate_commands: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


@dataclass
class DoctorReport:
    settings: dict[str, Any]
    subsystems: dict[str, dict[str, str]]
    backends: list[BackendCheck]
    warnings: list[str]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems and not any(b.problems for b in self.backends)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data


def scrub(text: str, settings: StorageSettings) -> str:
    """Remove the DSN and its passwords from text coming from a driver or plugin."""
    if settings.postgres_dsn is None:
        return text
    return scrub_dsn(text, settings.postgres_dsn.get_secret_value())


async def diagnose(settings: StorageSettings) -> DoctorReport:
    """Check every selected backend without changing anything (no schema migration)."""
    warnings: list[str] = []
    problems: list[str] = []
    try:
        registry = create_registry(strict=settings.plugins_strict)
    except PluginError as exc:
        problems.append(f"strict plugin mode: {exc}")
        registry = create_registry(strict=False)
    warnings.extend(
        f"plugin {f.name!r} is broken (not selected): {f.reason}"
        for f in registry.failures()
        if f.name not in settings.selected_backends().values()
    )
    by_backend: dict[str, list[Subsystem]] = {}
    for subsystem, name in settings.selected_backends().items():
        by_backend.setdefault(name, []).append(subsystem)
    probe = settings.model_copy(update={"auto_migrate": False})
    checks = [
        await _check(registry, name, subs, probe, auto_migrate=settings.auto_migrate)
        for name, subs in by_backend.items()
    ]
    for check in checks:
        if check.schema_pending and settings.auto_migrate:
            # not a problem: the backend applies them when the application next opens it
            warnings.append(
                f"backend {check.name!r}: {len(check.schema_pending)} schema step(s) will be "
                "applied at next start (ORCHEO_AUTO_MIGRATE is on)"
            )
    subsystems = _serving(settings, registry, warnings)
    for check in checks:
        # backends and drivers write these texts; make sure no DSN or password slips through
        check.problems = [scrub(p, settings) for p in check.problems]
        check.health = {k: scrub(v, settings) for k, v in check.health.items()}
    return DoctorReport(settings.redacted(), subsystems, checks, warnings, problems)


def _serving(
    settings: StorageSettings, registry: BackendRegistry, warnings: list[str]
) -> dict[str, dict[str, str]]:
    rows: dict[str, dict[str, str]] = {}
    loaded = {m.name: m for m in registry.manifests()}
    for subsystem, name in settings.selected_backends().items():
        manifest = loaded.get(name)
        if manifest is None:
            status = "unavailable"
        elif subsystem in manifest.subsystems:
            status = "ok"
        else:
            status = "unsupported"
            if subsystem in OPTIONAL_SUBSYSTEMS:
                warnings.append(f"backend {name!r} does not provide {subsystem.value}")
        rows[subsystem.value] = {"backend": name, "status": status}
    return rows


async def _check(
    registry: BackendRegistry,
    name: str,
    subsystems: list[Subsystem],
    settings: StorageSettings,
    *,
    auto_migrate: bool,
) -> BackendCheck:
    """Open one backend (``settings`` has auto-migration off) and ask for health and schema.

    Pending schema steps are a problem only when the application would not apply them
    itself (``auto_migrate`` off).
    """
    check = BackendCheck(name, [s.value for s in subsystems])
    try:
        backend = select_backend(registry, settings, name)
    except PluginError as exc:
        check.problems.append(str(exc))
        return check
    manifest = backend.manifest
    check.plugin = f"{manifest.distribution} {manifest.version}"
    missing = [s.value for s in subsystems if s not in manifest.subsystems]
    required = [s for s in missing if Subsystem(s) not in OPTIONAL_SUBSYSTEMS]
    if required:
        check.problems.append(f"backend {name!r} does not provide: {', '.join(required)}")
    try:
        session = await backend.open(settings)
    except ForeignFilesError as exc:
        # today's Orcheo files (or an unknown layout): refused before anything was written
        check.foreign_files = dict(exc.files)
        if isinstance(exc, LegacyFilesError):
            check.migrate_commands = dict(exc.commands)
        check.problems.append(str(exc))
        return check
    except Exception as exc:
        check.problems.append(f"cannot open: {type(exc).__name__}: {exc}")
        return check
    try:
        health = await session.health()
        check.healthy, check.health = health.ok, dict(health.details)
        if not health.ok:
            check.problems.append(f"unhealthy: {health.details}")
        schema = await session.schema_status()
        check.schema_current, check.schema_latest = schema.current, schema.latest
        check.schema_pending = list(schema.pending)
        if schema.pending and not auto_migrate:
            check.problems.append(
                f"{len(schema.pending)} pending schema step(s) and ORCHEO_AUTO_MIGRATE is off; "
                "run: orcheo-storage migrate-schema"
            )
    except Exception as exc:
        check.problems.append(f"check failed: {type(exc).__name__}: {exc}")
    finally:
        try:
            await session.close()
        except Exception as exc:
            check.problems.append(f"close failed: {type(exc).__name__}: {exc}")
    return check


def doctor(
    backend: BackendOption = None, data_dir: DataDirOption = None, json_output: JsonOption = False
) -> None:
    """Show effective settings (secrets redacted), which backend serves each subsystem, and
    check connectivity and schema status. Exits 1 when a problem is found."""
    settings = settings_from_options(backend, data_dir)
    report = asyncio.run(diagnose(settings))
    if json_output:
        print_json(report.as_dict())
    else:
        _render(report)
    if not report.ok:
        raise typer.Exit(EXIT_PROBLEMS)


def _render(report: DoctorReport) -> None:
    console = stdout()
    settings = Table(title="Effective settings (secrets redacted)")
    settings.add_column("setting")
    settings.add_column("value")
    for key, value in sorted(report.settings.items()):
        settings.add_row(f"ORCHEO_{key.upper()}", "-" if value is None else str(value))
    console.print(settings)
    serving = Table(title="Subsystems")
    for column in ("subsystem", "backend", "status"):
        serving.add_column(column)
    for subsystem, row in report.subsystems.items():
        serving.add_row(subsystem, row["backend"], row["status"])
    console.print(serving)
    checks = Table(title="Backends")
    for column in ("backend", "plugin", "health", "schema", "pending"):
        checks.add_column(column)
    for check in report.backends:
        schema = (
            "-" if check.schema_current is None else f"{check.schema_current}/{check.schema_latest}"
        )
        health = "-" if check.healthy is None else ("ok" if check.healthy else "FAILED")
        if check.foreign_files:
            legacy = any(k in LEGACY_KINDS for k in check.foreign_files.values())
            health = "LEGACY FILES" if legacy else "FOREIGN FILES"
        checks.add_row(
            check.name, check.plugin or "-", health, schema, str(len(check.schema_pending))
        )
    console.print(checks)
    for check in report.backends:
        for path, kind in check.foreign_files.items():
            what = "legacy file" if kind in LEGACY_KINDS else "foreign file"
            console.print(
                f"{check.name} {what}: {path} ({LAYOUT_LABELS.get(kind, kind)})", markup=False
            )
        if check.health:
            details = ", ".join(f"{k}={v}" for k, v in sorted(check.health.items()))
            console.print(f"{check.name} health: {details}", markup=False)
    for warning in report.warnings:
        console.print(f"warning: {warning}", markup=False)
    problems = report.problems + [f"{c.name}: {p}" for c in report.backends for p in c.problems]
    for problem in problems:
        console.print(f"problem: {problem}", markup=False)
    console.print("doctor: all checks passed" if report.ok else "doctor: problems found")


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
