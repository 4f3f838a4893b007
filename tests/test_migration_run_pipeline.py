"""``migrate run`` as a pipeline: rows in hand, worker verify, and clean stops on errors.

Source: a real SQLite backend (files); target: a real PostgreSQL schema. The worker
process opens both from settings.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import migration_support as support
import psycopg
import pytest
from backend_support import DSN, EXAMPLE, opened, provisioned
from orcheo_storage.jsoncodec import JsonObject
from orcheo_storage.migration import pipeline as pipeline_module
from orcheo_storage.migration import run as run_module
from orcheo_storage.migration.canonical import key_text, row_key
from orcheo_storage.migration.folder import DONE, FolderSource
from orcheo_storage.migration.importer import BadRowError
from orcheo_storage.migration.manifest import (
    SourceChangedError,
    TableEntry,
    read_journal,
    read_manifest,
)
from orcheo_storage.migration.run import MigrationSummary, migrate
from orcheo_storage.migration.sources import BackendSource
from orcheo_storage.migration.tables import dependency_order
from orcheo_storage.migration.verify import Kind, verify
from orcheo_storage.protocols.backend import BackendSession
from orcheo_storage.settings import StorageSettings

pytestmark = [pytest.mark.postgres]


class EditedSource(BackendSource):
    """A backend source whose rows of one table are edited on the way out (a bad row),
    or which adds a row to the source just before a table is read (a changing source)."""

    def __init__(
        self,
        session: BackendSession,
        *,
        edit: tuple[str, Any] | None = None,
        change_before: str | None = None,
    ) -> None:
        super().__init__(session, "edited")
        self._session_ = session
        self._edit = edit
        self._change_before = change_before

    async def _rows(self, table: str, batch_size: int) -> AsyncIterator[list[JsonObject]]:
        if table == self._change_before:
            await self._session_.service_tokens().record_audit_event(
                support.TokenAuditEvent(token_id="late", action="a", timestamp=support.utcnow())
            )
        async for rows in super().export_rows(table, batch_size=batch_size):
            if self._edit is not None and self._edit[0] == table:
                rows = self._edit[1](rows)
            yield rows

    def export_rows(self, table: str, *, batch_size: int = 1000) -> AsyncIterator[list[JsonObject]]:
        return self._rows(table, batch_size)


def _ledger(schema: str | None) -> set[str]:
    with psycopg.connect(DSN, autocommit=True) as conn:
        rows = conn.execute(f'SELECT batch_id FROM "{schema}".orcheo_migration_ledger').fetchall()
    return {str(r[0]) for r in rows}


def _journaled(folder: Path) -> dict[str, list[str]]:
    """Per table, the batch ids the export journaled (in order)."""
    return {
        d.name: [e.batch_id(d.name) for e in read_journal(d)]
        for d in sorted(folder.iterdir())
        if d.is_dir()
    }


def _manifest_ids(folder: Path) -> set[str]:
    manifest = read_manifest(folder)
    assert manifest is not None
    assert manifest.complete
    return {b.batch_id(t.name) for t in manifest.tables for b in t.batches}


async def _setup(stack: AsyncExitStack, tmp: Path) -> tuple[Any, Any, StorageSettings, Any]:
    src = await stack.enter_async_context(provisioned("sqlite", tmp))
    dst = await stack.enter_async_context(provisioned("postgres", tmp))
    source = await stack.enter_async_context(opened("sqlite", src, schema=True))
    await support.populate(source, EXAMPLE, src, webhook=False)
    target = await stack.enter_async_context(opened("postgres", dst, schema=False))
    return source, target, src, dst


def _assert_counts(summary: MigrationSummary) -> None:
    assert summary.imported is not None
    for table, counts in summary.imported.tables.items():
        assert counts.adds_up, (table, counts)


def test_pipelined_run_verifies_in_a_worker_against_folder_and_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    used: list[pipeline_module.VerifyPlan] = []
    real = pipeline_module.run_pipeline

    async def spy(*args: Any, **kwargs: Any) -> Any:
        used.append(kwargs["plan"])
        return await real(*args, **kwargs)

    async def main() -> None:
        async with AsyncExitStack() as stack:
            source, target, src, dst = await _setup(stack, tmp_path)
            folder = tmp_path / "e"
            monkeypatch.setattr(run_module, "run_pipeline", spy)
            summary = await migrate(
                BackendSource(source, "src"), target, folder, batch_size=3,
                verify_against_source=False,
            )  # fmt: skip
            assert used
            assert used[0].in_worker
            assert used[0].folder == folder
            assert summary.verified is not None
            assert summary.ok, [str(d) for d in summary.verified.differences]
            _assert_counts(summary)
            assert _ledger(dst.postgres_schema) == _manifest_ids(folder)
            assert {"export", "import", "pipeline", "verify_after_import"} <= set(summary.seconds)
            # Tamper with the target: a worker verify against the source names the row.
            with psycopg.connect(DSN, autocommit=True) as conn:
                conn.execute(
                    f'UPDATE "{dst.postgres_schema}".run_history_steps SET payload = '
                    '\'{"s": "tampered"}\' WHERE step_index = 1'
                )
            again = await migrate(BackendSource(source, "src"), target, folder, source_settings=src)
            assert used[1].in_worker
            assert used[1].source == src
            assert again.imported is not None
            assert again.imported.batches_imported == 0
            assert again.verified is not None
            kinds = {(d.table, d.kind) for d in again.verified.differences}
            assert kinds == {("run_history_steps", Kind.CHANGED)}
            assert not again.ok

    asyncio.run(main())


def test_bad_row_stops_the_pipeline_and_leaves_the_ledger_consistent(tmp_path: Path) -> None:
    table, key = "run_history_steps", ("execution_id", "index")
    bad: list[str] = []
    calls: list[int] = []

    def edit(rows: list[JsonObject]) -> list[JsonObject]:
        # The same row each run (a resumed export re-reads it): the second row of the
        # second batch gets a time the target refuses (batches around it are in flight).
        calls.append(1)
        if len(calls) == 2 and not bad:
            bad.append(key_text(row_key(rows[1], key)))
        return [{**r, "at": "not a time"} if key_text(row_key(r, key)) in bad else r for r in rows]

    async def main() -> None:
        async with AsyncExitStack() as stack:
            source, target, _src, dst = await _setup(stack, tmp_path)
            folder = tmp_path / "e"
            with pytest.raises(BadRowError) as err:
                await migrate(
                    EditedSource(source, edit=(table, edit)), target, folder, batch_size=3,
                    verify_against_source=False,
                )  # fmt: skip
            assert (err.value.table, err.value.key) == (table, bad[0])
            ledger = _ledger(dst.postgres_schema)
            every = {i for ids in _journaled(folder).values() for i in ids}
            # Only journaled batches went in (rows of the refused one: "batch id#row"),
            # every table before it completely, nothing of the tables after it.
            assert ledger
            assert {i.split("#")[0] for i in ledger} <= every
            manifest = read_manifest(folder)
            assert manifest is not None
            order = dependency_order()
            for name in order[: order.index(table)]:
                done = TableEntry.model_validate_json((folder / name / DONE).read_bytes())
                assert {b.batch_id(name) for b in done.batches} <= ledger, name
            after = order[order.index(table) + 1 :]
            assert not any(i.split(":")[0] in after for i in ledger)
            # Resume with a reject file: the run finishes, counts add up, the ledger holds
            # every batch id exactly once, verify names the one row that was set aside.
            rejects = tmp_path / "rejects.jsonl"
            calls.clear()
            summary = await migrate(
                EditedSource(source, edit=(table, edit)), target, folder, batch_size=3,
                verify_against_source=False, reject_file=rejects, max_rejects=5,
            )  # fmt: skip
            _assert_counts(summary)
            assert summary.imported is not None
            assert summary.imported.rejected == 1
            ledger = _ledger(dst.postgres_schema)
            assert {i for i in ledger if "#" not in i} == _manifest_ids(folder)
            assert summary.verified is not None
            assert [(d.table, d.key, d.kind) for d in summary.verified.differences] == [
                (table, bad[0], Kind.MISSING)
            ]

    asyncio.run(main())


def test_changed_source_stops_the_pipeline_and_a_fresh_run_finishes(tmp_path: Path) -> None:
    async def main() -> None:
        async with AsyncExitStack() as stack:
            source, target, _src, dst = await _setup(stack, tmp_path)
            folder = tmp_path / "e"
            with pytest.raises(SourceChangedError, match="service_token_audit"):
                await migrate(
                    EditedSource(source, change_before="service_token_audit"), target, folder,
                    batch_size=3, verify_against_source=False,
                )  # fmt: skip
            ledger = _ledger(dst.postgres_schema)
            every = {i for ids in _journaled(folder).values() for i in ids}
            assert ledger
            assert ledger <= every
            manifest = read_manifest(folder)
            assert manifest is not None
            assert not manifest.complete
            # The source changed since: resuming is refused, as for the separate export.
            with pytest.raises(SourceChangedError, match="since this export started"):
                await migrate(BackendSource(source, "src"), target, folder, batch_size=3)
            # Into a fresh target schema and folder the unchanged-from-now source goes through.
            fresh_dst = await stack.enter_async_context(provisioned("postgres", tmp_path / "f"))
            fresh = await stack.enter_async_context(opened("postgres", fresh_dst, schema=False))
            summary = await migrate(
                BackendSource(source, "src"), fresh, tmp_path / "e2", batch_size=3,
                verify_against_source=False,
            )  # fmt: skip
            assert summary.ok
            _assert_counts(summary)
            assert _ledger(fresh_dst.postgres_schema) == _manifest_ids(tmp_path / "e2")
            report = await verify(FolderSource(tmp_path / "e2"), BackendSource(fresh, "dst"))
            assert report.ok

    asyncio.run(main())
