"""The whole migration in one call: schema, export, import, verify; plus opening endpoints."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from orcheo_storage.migration.export import ExportResult, export, folder_size
from orcheo_storage.migration.folder import FolderSource
from orcheo_storage.migration.importer import ImportResult, import_folder
from orcheo_storage.migration.pipeline import VerifyPlan, run_pipeline
from orcheo_storage.migration.progress import NullReporter, Reporter
from orcheo_storage.migration.sources import BackendSource, CheckedSource, RowSource
from orcheo_storage.migration.verify import VerifyReport, verify
from orcheo_storage.plugins.registry import BackendRegistry, create_registry
from orcheo_storage.protocols.backend import BackendSession
from orcheo_storage.settings import StorageSettings


async def open_backend(
    name: str, settings: StorageSettings, *, registry: BackendRegistry | None = None
) -> BackendSession:
    """Open backend ``name`` with ``auto_migrate`` off (schema changes are explicit steps).

    Raises:
        ConfigurationError: the backend is unknown, not installed or broken.
    """
    registry = registry or create_registry(strict=settings.plugins_strict)
    return await registry.get(name).open(settings.model_copy(update={"auto_migrate": False}))


@dataclass
class MigrationSummary:
    """What :func:`migrate` did, with timings per step (seconds)."""

    schema_steps: list[str] = field(default_factory=list)
    exported: ExportResult | None = None
    imported: ImportResult | None = None
    verified: VerifyReport | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    export_bytes: int = 0

    @property
    def ok(self) -> bool:
        counts_ok = self.imported is None or all(c.adds_up for c in self.imported.tables.values())
        return counts_ok and (self.verified is None or self.verified.ok)


async def migrate(
    source: RowSource,
    target: BackendSession,
    folder: Path,
    *,
    batch_size: int = 5000,
    fresh: bool = False,
    reject_file: Path | None = None,
    max_rejects: int = 0,
    streams: int = 2,
    verify_against_source: bool = True,
    reporter: Reporter | None = None,
    pipeline: bool = True,
    queue_batches: int = 1,
    target_settings: StorageSettings | None = None,
    source_settings: StorageSettings | None = None,
    verify_worker: bool = True,
) -> MigrationSummary:
    """Migrate ``source`` into ``target`` through the export ``folder``; resumable.

    Steps: migrate the target's schema, export (resumes a partial export), import (each
    batch exactly once), verify. Verification compares the target with the source itself
    when ``verify_against_source`` (backend sources), else with the export folder (sources
    whose rows are rebuilt on every read, like re-encrypted legacy vault rows).

    With ``pipeline`` (the default) the steps overlap (:mod:`.pipeline`): the import takes
    each batch from the rows the export has in hand, and each table is verified in a
    worker process as soon as its import is committed. The worker opens the target from
    ``target_settings`` (default: the session's public ``settings``, when it has one and
    is not the in-memory backend) and, to compare with a backend source, the source from
    ``source_settings``; without them verify runs here after the import, as without
    ``pipeline``; ``queue_batches`` batches wait between export and import. With
    ``verify_worker=False`` verify always runs here after the import (one process, about
    half the memory; the command line's default). ``seconds`` then holds each step's own
    (overlapping) wall time and ``pipeline``, the whole.

    Raises:
        SourceChangedError, BatchCorruptError, BadRowError, MigrationError: see the steps.
    """
    reporter = reporter or NullReporter()
    summary = MigrationSummary()
    if isinstance(source, CheckedSource):
        return await _migrate_checked(
            source,
            target,
            folder,
            summary,
            reporter,
            batch_size,
            fresh,
            reject_file,
            max_rejects,
            streams,
        )
    clock = time.perf_counter()
    summary.schema_steps = list(await target.migrate_schema())
    summary.seconds["schema"] = time.perf_counter() - clock

    if pipeline:
        plan = _verify_plan(
            target, target_settings, source, source_settings, folder, verify_against_source
        )
        if not verify_worker:
            plan = VerifyPlan(None, plan.folder)  # verify here, after the import (one process)
        result = await run_pipeline(
            source,
            target.bulk(),
            folder,
            plan=plan,
            batch_size=batch_size,
            fresh=fresh,
            reject_file=reject_file,
            max_rejects=max_rejects,
            streams=streams,
            reporter=reporter,
            queue_batches=queue_batches,
        )
        summary.exported, summary.imported = result.exported, result.imported
        summary.seconds.update(result.seconds)
        summary.export_bytes = folder_size(folder)
        if result.verdicts is not None:
            summary.verified = VerifyReport(tables=result.verdicts)
            return summary
    else:
        clock = time.perf_counter()
        summary.exported = await export(
            source, folder, batch_size=batch_size, fresh=fresh, reporter=reporter
        )
        summary.seconds["export"] = time.perf_counter() - clock
        summary.export_bytes = folder_size(folder)

        clock = time.perf_counter()
        summary.imported = await import_folder(
            target.bulk(),
            folder,
            reject_file=reject_file,
            max_rejects=max_rejects,
            streams=streams,
            reporter=reporter,
        )
        summary.seconds["import"] = time.perf_counter() - clock

    clock = time.perf_counter()
    reference: RowSource = source if verify_against_source else FolderSource(folder)
    summary.verified = await verify(
        reference, BackendSource(target, "target"), tables=source.tables(), reporter=reporter
    )
    summary.seconds["verify"] = time.perf_counter() - clock
    return summary


async def _migrate_checked(
    source: CheckedSource,
    target: BackendSession,
    folder: Path,
    summary: MigrationSummary,
    reporter: Reporter,
    batch_size: int,
    fresh: bool,
    reject_file: Path | None,
    max_rejects: int,
    streams: int,
) -> MigrationSummary:
    """Export everything first (a refused row stops it before the target is touched),
    then schema and import, then verify the target against the source itself."""
    assert isinstance(source, RowSource)
    clock = time.perf_counter()
    summary.exported = await export(
        source, folder, batch_size=batch_size, fresh=fresh, reporter=reporter
    )
    summary.seconds["export"] = time.perf_counter() - clock
    summary.export_bytes = folder_size(folder)
    clock = time.perf_counter()
    summary.schema_steps = list(await target.migrate_schema())
    summary.seconds["schema"] = time.perf_counter() - clock
    clock = time.perf_counter()
    summary.imported = await import_folder(
        target.bulk(),
        folder,
        reject_file=reject_file,
        max_rejects=max_rejects,
        streams=streams,
        reporter=reporter,
    )
    summary.seconds["import"] = time.perf_counter() - clock
    clock = time.perf_counter()
    summary.verified = await source.verify_target(target, reporter)
    summary.seconds["verify"] = time.perf_counter() - clock
    return summary


def _public_settings(session: object) -> StorageSettings | None:
    settings = getattr(session, "settings", None)
    if not isinstance(settings, StorageSettings) or settings.repository_backend == "memory":
        return None
    # Only when the settings name the session's own backend (a worker opens it by name).
    return settings if settings.repository_backend in type(session).__module__ else None


def _verify_plan(
    target: BackendSession,
    target_settings: StorageSettings | None,
    source: RowSource,
    source_settings: StorageSettings | None,
    folder: Path,
    verify_against_source: bool,
) -> VerifyPlan:
    """Verify in a worker when it can open the same target (and source) on its own."""
    settings = target_settings or _public_settings(target)
    if settings is not None and settings.repository_backend == "memory":
        settings = None  # another process would see another (empty) memory backend
    if not verify_against_source:
        return VerifyPlan(settings, folder)
    if source_settings is not None and source_settings.repository_backend == "memory":
        source_settings = None
    return VerifyPlan(settings, None, source_settings, source.name)
