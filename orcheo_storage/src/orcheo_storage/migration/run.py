"""The whole migration in one call: schema, export, import, verify; plus opening endpoints."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from orcheo_storage.migration.export import ExportResult, export, folder_size
from orcheo_storage.migration.folder import FolderSource
from orcheo_storage.migration.importer import ImportResult, import_folder
from orcheo_storage.migration.progress import NullReporter, Reporter
from orcheo_storage.migration.sources import BackendSource, RowSource
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
) -> MigrationSummary:
    """Migrate ``source`` into ``target`` through the export ``folder``; resumable.

    Steps: migrate the target's schema, export (resumes a partial export), import (each
    batch exactly once), verify. Verification compares the target with the source itself
    when ``verify_against_source`` (backend sources), else with the export folder (sources
    whose rows are rebuilt on every read, like re-encrypted legacy vault rows).

    Raises:
        SourceChangedError, BatchCorruptError, BadRowError, MigrationError: see the steps.
    """
    reporter = reporter or NullReporter()
    summary = MigrationSummary()
    clock = time.perf_counter()
    summary.schema_steps = list(await target.migrate_schema())
    summary.seconds["schema"] = time.perf_counter() - clock

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
