"""``orcheo-storage migrate sync``: carry the changes since the last copy (incremental cut-over)."""

from __future__ import annotations

import asyncio
from typing import Any

import typer
from rich.table import Table

from orcheo_storage.cli._common import (
    EXIT_PROBLEMS,
    JsonOption,
    print_json,
    reported_errors,
    stdout,
)
from orcheo_storage.cli.migrate import (
    AllowLoss,
    BatchSize,
    Folder,
    From,
    FromDir,
    FromSchema,
    To,
    ToDir,
    ToSchema,
    _with_reporter,
)
from orcheo_storage.migration.endpoints import Endpoint, open_source, open_target
from orcheo_storage.migration.progress import Reporter
from orcheo_storage.migration.sync import SyncResult, sync


def _json(result: SyncResult) -> dict[str, Any]:
    verdicts = {t.table: t for t in result.verified.tables} if result.verified else {}
    return {
        "ok": result.ok,
        "generation": result.generation,
        "scanned": result.scanned,
        "changed_rows": result.changed_rows,
        "batches_applied": result.batches_applied,
        "batches_skipped": result.batches_skipped,
        "seconds": result.seconds,
        "tables": [
            {
                "table": t.name,
                "source_rows": t.rows,
                "changed": t.changed,
                "added": t.added,
                "deleted": t.deleted,
                "target_rows": verdicts[t.name].target_rows if t.name in verdicts else None,
                "differences": [str(d) for d in verdicts[t.name].listed]
                if t.name in verdicts
                else [],
            }
            for t in result.tables
        ],
    }


def _show(result: SyncResult) -> None:
    console = stdout()
    verdicts = {t.table: t for t in result.verified.tables} if result.verified else {}
    title = f"Sync generation {result.generation}" + ("" if result.scanned else " (resumed)")
    table = Table(title=title)
    for col in ("table", "source", "changed", "added", "deleted", "target", "verify"):
        table.add_column(col, justify="left" if col in ("table", "verify") else "right")
    for t in result.tables:
        verdict = verdicts.get(t.name)
        table.add_row(
            t.name,
            str(t.rows),
            str(t.changed),
            str(t.added),
            str(t.deleted),
            str(verdict.target_rows) if verdict else "",
            ("equal" if verdict.ok else f"{verdict.differences} difference(s)") if verdict else "",
        )
    console.print(table)
    for verdict in verdicts.values():
        for diff in verdict.listed:
            console.print(f"difference: {diff}", markup=False)
    console.print(
        f"rows changed since the last copy: {result.changed_rows}; batches applied "
        f"{result.batches_applied}, already applied {result.batches_skipped}",
        markup=False,
    )
    console.print("time: " + ", ".join(f"{k} {v:.1f}s" for k, v in result.seconds.items()))


def sync_command(
    source: From,
    target: To,
    folder: Folder,
    from_dir: FromDir = None,
    to_dir: ToDir = None,
    from_schema: FromSchema = None,
    to_schema: ToSchema = None,
    batch_size: BatchSize = 2000,
    allow_loss: AllowLoss = None,
    json_output: JsonOption = False,
) -> None:
    """Copy only the rows changed since the export (or the last sync) into the target.

    Run after `migrate run` (taken while the source was live); run it again with writes
    frozen for the cut-over. Resumes where a killed run stopped; exit 0 when every
    changed row and every table count checks out.
    """
    src = Endpoint(source, from_dir, from_schema, frozenset(allow_loss or ()))
    dst = Endpoint(target, to_dir, to_schema)

    async def body(reporter: Reporter) -> SyncResult:
        settings = dst.settings()
        async with open_source(src, settings) as rows, open_target(dst, settings) as session:
            return await sync(
                rows, session.bulk(), folder, batch_size=batch_size, reporter=reporter
            )

    with reported_errors():
        result = asyncio.run(_with_reporter(body))
    if json_output:
        print_json(_json(result))
    else:
        _show(result)
    if not result.ok:
        raise typer.Exit(EXIT_PROBLEMS)


def register(group: typer.Typer) -> None:
    """Add ``sync`` to the ``migrate`` command group."""
    group.command("sync")(sync_command)
