"""``orcheo-storage migrate``: move data between backends (export, import, verify, run).

Every subcommand takes ``--from`` / ``--to`` endpoints (a backend name, or ``legacy`` for
today's Orcheo files) and an export ``--folder``. Progress bars on a terminal, plain log
lines otherwise; a summary table at the end. Exit status: 0 equal, 1 differences or bad
rows, 2 the command could not run.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from orcheo_storage.cli._common import (
    EXIT_PROBLEMS,
    JsonOption,
    print_json,
    reported_errors,
    stderr,
    stdout,
)
from orcheo_storage.migration.endpoints import Endpoint, open_source, open_target
from orcheo_storage.migration.export import export as run_export
from orcheo_storage.migration.folder import FolderSource
from orcheo_storage.migration.importer import ImportResult, import_folder
from orcheo_storage.migration.plan import MigrationPlan, make_plan
from orcheo_storage.migration.progress import LogReporter, Reporter
from orcheo_storage.migration.run import MigrationSummary, migrate
from orcheo_storage.migration.sources import BackendSource, CheckedSource, RowSource
from orcheo_storage.migration.verify import VerifyReport, verify

T = TypeVar("T")

migrate_app = typer.Typer(
    help="Move data between backends: export, import, verify, or run all three.",
    no_args_is_help=True,
)

From = Annotated[str, typer.Option("--from", help="Source backend, or 'legacy' for today's files.")]
To = Annotated[str, typer.Option("--to", help="Target backend.")]
Folder = Annotated[Path, typer.Option("--folder", help="The export folder (batches + manifest).")]
FromDir = Annotated[
    Path | None, typer.Option("--from-data-dir", help="Folder of the source's SQLite files.")
]
ToDir = Annotated[
    Path | None, typer.Option("--to-data-dir", help="Folder of the target's SQLite files.")
]
FromSchema = Annotated[str | None, typer.Option("--from-schema", help="Source PostgreSQL schema.")]
ToSchema = Annotated[str | None, typer.Option("--to-schema", help="Target PostgreSQL schema.")]
BatchSize = Annotated[int, typer.Option("--batch-size", min=1, help="Rows per batch file.")]
Fresh = Annotated[bool, typer.Option("--fresh", help="Discard a partial export and start over.")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Show the plan; change nothing anywhere.")]
RejectFile = Annotated[
    Path | None,
    typer.Option("--reject-file", help="Set refused rows aside here (mode 0600) and go on."),
]
Streams = Annotated[
    int, typer.Option("--streams", min=1, help="Batches of one table imported at once.")
]
AllowLoss = Annotated[
    list[str] | None,
    typer.Option(
        "--allow-loss",
        help="Migrate today's files without this legacy field (TABLE.PATH, e.g. "
        "workflows.payload.some_key, as named by the refusal); repeatable. The summary "
        "lists what was left behind.",
    ),
]
MaxRejects = Annotated[
    int, typer.Option("--max-rejects", min=0, help="Most rows the reject file may take.")
]


class RichReporter:
    """A progress bar per table with rows/s and ETA."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[tuple[str, str], TaskID] = {}

    def start(self, step: str, table: str, total_rows: int) -> None:
        self._tasks[(step, table)] = self._progress.add_task(
            f"{step} {table}", total=max(total_rows, 1) if total_rows else 0
        )

    def advance(self, step: str, table: str, rows: int) -> None:
        self._progress.advance(self._tasks[(step, table)], rows)

    def finish(self, step: str, table: str) -> None:
        task = self._tasks.pop((step, table))
        self._progress.update(task, completed=self._progress.tasks[task].total)

    def note(self, message: str) -> None:
        self._progress.console.print(message, markup=False)


class RateColumn(ProgressColumn):
    """Rows per second of a task."""

    def render(self, task: Task) -> Text:
        speed = task.speed
        return Text("" if speed is None else f"{speed:,.0f} rows/s")


async def _with_reporter(work: Callable[[Reporter], Awaitable[T]]) -> T:
    """Run ``work(reporter)`` with rich bars on a terminal, plain log lines otherwise."""
    console = stderr()
    if console.is_terminal:
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        with progress:
            return await work(RichReporter(progress))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    return await work(LogReporter())


# --- rendering -----------------------------------------------------------------------------------


def _plan_json(plan: MigrationPlan) -> dict[str, Any]:
    return {
        "source": plan.source,
        "schema_version": plan.schema_version,
        "batch_size": plan.batch_size,
        "export_state": plan.export_state,
        "tables": [t.__dict__ for t in plan.tables],
        "target_schema_steps": plan.target_schema_steps,
        "target_batches_done": plan.target_batches_done,
        "unmapped": plan.unmapped,
        "checked": None
        if plan.checked is None
        else {
            "rows": plan.checked.rows,
            "refused_rows": plan.checked.refused_rows,
            "refusals": plan.checked.refusals,
        },
    }


def _show_plan(plan: MigrationPlan) -> None:
    console = stdout()
    table = Table(title=f"Plan (dry run): {plan.rows} rows in {plan.batches} batches")
    for col in ("table", "rows", "batches", "already exported"):
        table.add_column(col, justify="left" if col == "table" else "right")
    for t in plan.tables:
        table.add_row(t.table, str(t.rows), str(t.batches), str(t.exported_batches))
    console.print(table)
    console.print(f"source: {plan.source} (schema version {plan.schema_version})", markup=False)
    console.print(f"export folder: {plan.export_state}", markup=False)
    steps = ", ".join(plan.target_schema_steps) or "none (schema is up to date)"
    console.print(f"target schema steps: {steps}", markup=False)
    console.print(f"batches already in the target ledger: {plan.target_batches_done}", markup=False)
    for line in plan.unmapped:
        console.print(f"not migrated: {line}", markup=False)
    if plan.checked is not None:
        mapped = sum(plan.checked.rows.values())
        console.print(
            f"every row read and mapped: {mapped} would be migrated, "
            f"{plan.checked.refused_rows} refused",
            markup=False,
        )
        for refusal in plan.checked.refusals:
            console.print(f"refused: {refusal}", markup=False)
    console.print("nothing was changed", markup=False)


def _summary_json(
    imported: ImportResult | None, verified: VerifyReport | None, seconds: dict[str, float]
) -> dict[str, Any]:
    return {
        "ok": (verified is None or verified.ok)
        and (imported is None or all(c.adds_up for c in imported.tables.values())),
        "seconds": seconds,
        "import": {k: v.__dict__ for k, v in imported.tables.items()} if imported else None,
        "verify": [
            {
                "table": t.table,
                "source_rows": t.source_rows,
                "target_rows": t.target_rows,
                "differences": t.differences,
                "listed": [str(d) for d in t.listed],
            }
            for t in verified.tables
        ]
        if verified
        else None,
    }


def _show_summary(
    imported: ImportResult | None, verified: VerifyReport | None, seconds: dict[str, float]
) -> None:
    console = stdout()
    table = Table(title="Migration summary")
    names: list[str] = list(imported.tables) if imported else []
    names += [t.table for t in verified.tables if t.table not in names] if verified else []
    verdicts = {t.table: t for t in verified.tables} if verified else {}
    for col in ("table", "source", "imported", "already", "rejected", "target", "verify"):
        table.add_column(col, justify="left" if col in ("table", "verify") else "right")
    for name in names:
        counts = imported.tables.get(name) if imported else None
        verdict = verdicts.get(name)
        table.add_row(
            name,
            str(counts.source if counts else verdict.source_rows if verdict else ""),
            str(counts.imported) if counts else "",
            str(counts.already) if counts else "",
            str(counts.rejected) if counts else "",
            str(verdict.target_rows) if verdict else "",
            ("equal" if verdict.ok else f"{verdict.differences} difference(s)") if verdict else "",
        )
    console.print(table)
    for diff in verified.differences if verified else []:
        console.print(f"difference: {diff}", markup=False)
    timing = ", ".join(f"{k} {v:.1f}s" for k, v in seconds.items())
    if timing:
        console.print(f"time: {timing}", markup=False)


def _finish(
    imported: ImportResult | None,
    verified: VerifyReport | None,
    seconds: dict[str, float],
    json_output: bool,
    not_migrated: list[str] | None = None,
) -> None:
    data = _summary_json(imported, verified, seconds)
    data["not_migrated"] = not_migrated or []
    if json_output:
        print_json(data)
    else:
        _show_summary(imported, verified, seconds)
        for line in not_migrated or []:
            stdout().print(f"not migrated: {line}", markup=False)
    if not data["ok"]:
        raise typer.Exit(EXIT_PROBLEMS)


# --- async bodies --------------------------------------------------------------------------------


async def _plan(
    source: Endpoint, target: Endpoint | None, folder: Path, batch_size: int
) -> MigrationPlan:
    target_settings = (target or Endpoint("memory")).settings()
    async with open_source(source, target_settings, dry_run=True) as rows:
        if target is None:
            return await make_plan(rows, folder, target=None, batch_size=batch_size)
        async with open_target(target, target_settings) as session:
            return await make_plan(rows, folder, target=session, batch_size=batch_size)


async def _run(
    source: Endpoint,
    target: Endpoint,
    folder: Path,
    options: dict[str, Any],
    reporter: Reporter,
) -> MigrationSummary:
    target_settings = target.settings()
    async with open_source(source, target_settings) as rows:
        if isinstance(rows, CheckedSource):
            # Every row is read and checked before the target is even opened: a refused
            # row leaves it untouched. (``migrate`` then finds the export complete.)
            await run_export(
                rows,
                folder,
                batch_size=options["batch_size"],
                fresh=options["fresh"],
                reporter=reporter,
            )
        async with open_target(target, target_settings) as session:
            return await migrate(
                rows,
                session,
                folder,
                verify_against_source=isinstance(rows, BackendSource),
                reporter=reporter,
                **{**options, "fresh": False} if isinstance(rows, CheckedSource) else options,
            )


# --- commands ------------------------------------------------------------------------------------


@migrate_app.command("run")
def run_command(
    source: From,
    target: To,
    folder: Folder,
    from_dir: FromDir = None,
    to_dir: ToDir = None,
    from_schema: FromSchema = None,
    to_schema: ToSchema = None,
    batch_size: BatchSize = 5000,
    fresh: Fresh = False,
    dry_run: DryRun = False,
    reject_file: RejectFile = None,
    max_rejects: MaxRejects = 0,
    streams: Streams = 2,
    allow_loss: AllowLoss = None,
    verify_worker: Annotated[
        bool,
        typer.Option(
            "--verify-worker/--no-verify-worker",
            help="Verify each table in a second process while the import goes on "
            "(faster on two or more cores; about twice the memory).",
        ),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Migrate the target's schema, export, import and verify (resumes where it stopped).

    From today's files (--from legacy) every row is exported and checked before the target
    is touched, and the target is verified against the files field by field.
    """
    src = Endpoint(source, from_dir, from_schema, frozenset(allow_loss or ()))
    dst = Endpoint(target, to_dir, to_schema)
    if dry_run:
        _dry_run(src, dst, folder, batch_size, json_output)
        return
    options = {
        "batch_size": batch_size,
        "fresh": fresh,
        "reject_file": reject_file,
        "max_rejects": max_rejects,
        "streams": streams,
        "verify_worker": verify_worker,
    }
    with reported_errors():
        summary = asyncio.run(_with_reporter(lambda r: _run(src, dst, folder, options, r)))
    unmapped = summary.exported.manifest.unmapped if summary.exported else []
    _finish(summary.imported, summary.verified, summary.seconds, json_output, unmapped)


def _dry_run(
    src: Endpoint, dst: Endpoint | None, folder: Path, batch_size: int, json_output: bool
) -> None:
    with reported_errors():
        plan = asyncio.run(_plan(src, dst, folder, batch_size))
    if json_output:
        print_json(_plan_json(plan))
    else:
        _show_plan(plan)
    if plan.checked is not None and plan.checked.refused_rows:
        raise typer.Exit(EXIT_PROBLEMS)


@migrate_app.command("export")
def export_command(
    source: From,
    folder: Folder,
    from_dir: FromDir = None,
    from_schema: FromSchema = None,
    target: Annotated[
        str, typer.Option("--to", help="Target backend (its vault key seals legacy secrets).")
    ] = "sqlite",
    to_dir: ToDir = None,
    batch_size: BatchSize = 5000,
    fresh: Fresh = False,
    dry_run: DryRun = False,
    allow_loss: AllowLoss = None,
    json_output: JsonOption = False,
) -> None:
    """Export the source into the folder (resumes a killed export; refuses a changed source)."""
    src = Endpoint(source, from_dir, from_schema, frozenset(allow_loss or ()))
    if dry_run:
        _dry_run(src, None, folder, batch_size, json_output)
        return

    async def body(reporter: Reporter) -> dict[str, Any]:
        async with open_source(src, Endpoint(target, to_dir).settings()) as rows:
            result = await run_export(
                rows, folder, batch_size=batch_size, fresh=fresh, reporter=reporter
            )
            return {
                "tables": result.tables,
                "rows_written": result.rows_written,
                "rows_skipped": result.rows_skipped,
                "bytes_written": result.bytes_written,
                "unmapped": result.manifest.unmapped,
            }

    with reported_errors():
        data = asyncio.run(_with_reporter(body))
    if json_output:
        print_json(data)
        return
    console = stdout()
    console.print(
        f"exported {sum(data['tables'].values())} rows in {len(data['tables'])} tables "
        f"({data['rows_written']} written now, {data['rows_skipped']} from an earlier run)",
        markup=False,
    )
    for line in data["unmapped"]:
        console.print(f"not migrated: {line}", markup=False)


@migrate_app.command("import")
def import_command(
    target: To,
    folder: Folder,
    to_dir: ToDir = None,
    to_schema: ToSchema = None,
    reject_file: RejectFile = None,
    max_rejects: MaxRejects = 0,
    streams: Streams = 2,
    json_output: JsonOption = False,
) -> None:
    """Migrate the target's schema, then import the folder (each batch exactly once)."""
    dst = Endpoint(target, to_dir, to_schema)

    async def body(reporter: Reporter) -> ImportResult:
        async with open_target(dst, dst.settings()) as session:
            await session.migrate_schema()
            return await import_folder(
                session.bulk(),
                folder,
                reject_file=reject_file,
                max_rejects=max_rejects,
                streams=streams,
                reporter=reporter,
            )

    with reported_errors():
        result = asyncio.run(_with_reporter(body))
    _finish(result, None, {}, json_output)


@migrate_app.command("verify")
def verify_command(
    target: To,
    folder: Annotated[
        Path | None, typer.Option("--folder", help="Compare with this export instead.")
    ] = None,
    source: Annotated[str | None, typer.Option("--from", help="Compare with this source.")] = None,
    from_dir: FromDir = None,
    from_schema: FromSchema = None,
    to_dir: ToDir = None,
    to_schema: ToSchema = None,
    allow_loss: AllowLoss = None,
    json_output: JsonOption = False,
) -> None:
    """Compare the target with the source (or an export folder): counts and every row.

    Against today's files (--from legacy) every legacy field is compared with what the
    target holds (fields left behind with --allow-loss excepted).
    """
    if (source is None) == (folder is None):
        stderr().print("error: give exactly one of --from and --folder", markup=False)
        raise typer.Exit(2)
    dst = Endpoint(target, to_dir, to_schema)

    async def body(reporter: Reporter) -> VerifyReport:
        settings = dst.settings()
        async with open_target(dst, settings) as session:
            checked = BackendSource(session, f"target {dst.describe()}")
            if folder is not None:
                return await verify(FolderSource(folder), checked, reporter=reporter)
            src = Endpoint(source or "", from_dir, from_schema, frozenset(allow_loss or ()))
            async with open_source(src, settings) as rows:
                if isinstance(rows, CheckedSource):
                    return await rows.verify_target(session, reporter)
                reference: RowSource = rows
                return await verify(reference, checked, reporter=reporter)

    with reported_errors():
        report = asyncio.run(_with_reporter(body))
    _finish(None, report, {}, json_output)


def register(app: typer.Typer) -> None:
    app.add_typer(migrate_app, name="migrate")
