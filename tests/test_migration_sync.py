"""Incremental sync: after a copy taken while the source was live, only the changes move.

Real files and a real PostgreSQL: today's Orcheo files (and this project's SQLite backend)
are copied into PostgreSQL, then changed (updates, inserts, deletes in several
subsystems), then synced. The synced target must equal a fresh full migration of the
changed source, a second sync must move nothing, a sync killed while applying must
resume exactly once, and a target changed behind the sync's back must be named.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import backend_support as backends
import legacy_files as legacy
import migration_support as support
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from orcheo_storage.errors import StorageError
from orcheo_storage.jsoncodec import JsonObject, JsonValue
from orcheo_storage.migration.folder import FolderSource
from orcheo_storage.migration.manifest import BatchCorruptError, MigrationError
from orcheo_storage.migration.run import migrate
from orcheo_storage.migration.sources import BackendSource
from orcheo_storage.migration.sync import delta_rows, sync
from orcheo_storage.migration.sync_apply import verify_generation
from orcheo_storage.migration.tables import LOGICAL_TABLES
from orcheo_storage.migration.verify import Kind, verify
from orcheo_storage.models.chat import ChatContext
from orcheo_storage.models.workflows import RunStatus
from orcheo_storage.protocols.backend import BulkTransfer
from orcheo_storage.rules.workflows import WorkflowChanges

pytestmark = pytest.mark.postgres


IDS = legacy.IDS
T = legacy.T


def _change_todays_files(folder: Path) -> None:
    """Writes made after the copy: updates, inserts and deletes across the subsystems."""
    repo = sqlite3.connect(folder / "workflows.sqlite")
    repo.execute(
        "UPDATE workflows SET handle = 'alpha-2', payload = json_set(payload, '$.name', 'Alpha 2') "
        "WHERE id = ?",
        (IDS["wf"],),
    )
    repo.execute(
        "UPDATE execution_history_steps SET payload = ? WHERE execution_id = 'exec-1' "
        "AND step_index = 1",
        (json.dumps({"step": 1, "edited": True}),),
    )
    repo.executemany(
        "INSERT INTO execution_history_steps VALUES (?, ?, ?, ?)",
        [("exec-1", i, T, json.dumps({"step": i})) for i in (3, 4)]
        + [("exec-2", i, T, json.dumps({"step": i, "new": True})) for i in (0, 1)],
    )
    repo.execute(
        "INSERT INTO execution_history VALUES "
        "('exec-2', ?, '{}', '{}', '[]', '[]', '{}', NULL, 'running', ?, NULL, NULL, NULL, NULL, NULL, NULL)",
        (IDS["wf"], T),
    )
    repo.execute("DELETE FROM listener_dedupe WHERE dedupe_key = 'evt-1'")
    repo.execute(
        "INSERT INTO listener_dedupe VALUES (?, 'evt-2', '{}', ?)",
        (IDS["sub"], "2030-01-01T00:00:00+00:00"),
    )
    repo.commit()
    repo.close()
    chat = sqlite3.connect(folder / "chatkit.sqlite")
    chat.execute("UPDATE chat_threads SET title = 'Renamed' WHERE id = 'thr_1'")
    chat.execute("DELETE FROM chat_messages WHERE id = 'msg_1'")
    item = {
        "id": "msg_2",
        "type": "user_message",
        "created_at": T,
        "thread_id": "thr_1",
        "content": [{"type": "input_text", "text": "third"}],
        "attachments": [],
        "inference_options": {},
    }
    chat.execute(
        "INSERT INTO chat_messages VALUES ('msg_2', 'thr_1', 2, 'user_message', ?, ?)",
        (json.dumps(item), T),
    )
    chat.commit()
    chat.close()
    tokens = sqlite3.connect(folder / "service_tokens.sqlite")
    tokens.execute("UPDATE service_tokens SET use_count = 4 WHERE identifier = 'tok-1'")
    tokens.execute(
        "INSERT INTO service_token_audit_log VALUES (NULL, 'tok-1', 'used', NULL, NULL, NULL, ?, NULL)",
        (T,),
    )
    tokens.commit()
    tokens.close()


EXPECTED = {  # table: (changed, added, deleted)
    "workflows": (1, 0, 0),
    "run_histories": (0, 1, 0),
    "run_history_steps": (1, 4, 0),
    "listener_dedupe": (0, 1, 1),
    "chat_threads": (1, 0, 0),
    "chat_items": (0, 1, 1),
    "service_tokens": (1, 0, 0),
    "service_token_audit": (0, 1, 0),
}
# Rows rebuilt on every read (legacy vault and webhook secrets are sealed with a fresh nonce)
# cannot equal a second migration's; they are compared by count.
RESEALED = {"vault_credentials", "webhook_triggers"}


async def _equal_to_fresh_copy(tmp_path: Path, data: Path, target: Any, name: str) -> None:
    async with (
        legacy.pg_target(tmp_path / f"{name}-fresh") as fresh,
        legacy.legacy_source(data) as src,
    ):
        summary = await migrate(
            src, fresh, tmp_path / f"{name}-export", verify_against_source=False
        )
        assert summary.ok
        tables = [t.name for t in LOGICAL_TABLES if t.name not in RESEALED]
        report = await verify(
            BackendSource(fresh, "fresh copy"), BackendSource(target, "synced"), tables=tables
        )
        assert report.ok, [str(d) for d in report.differences]
        for table in RESEALED:
            assert await target.bulk().count_rows(table) == await fresh.bulk().count_rows(table)


@asynccontextmanager
async def _copied_then_changed(tmp_path: Path) -> AsyncIterator[tuple[Path, Path, Any]]:
    """Today's files copied into a fresh PostgreSQL schema, then changed (not yet synced)."""
    data, folder = tmp_path / "legacy", tmp_path / "export"
    legacy.build_legacy(data, old=False)
    async with legacy.pg_target(tmp_path / "target") as target:
        async with legacy.legacy_source(data) as source:
            assert (await migrate(source, target, folder, verify_against_source=False)).ok
        _change_todays_files(data)
        yield data, folder, target


async def test_sync_carries_updates_inserts_and_deletes_of_todays_files(tmp_path: Path) -> None:
    async with _copied_then_changed(tmp_path) as (data, folder, target):
        before = legacy.file_digests(data)
        async with legacy.legacy_source(data) as source:
            result = await sync(source, target.bulk(), folder, batch_size=2)
        assert legacy.file_digests(data) == before  # the source is only read
        assert result.ok, result.verified and [str(d) for d in result.verified.differences]
        assert result.generation == 1
        assert result.scanned
        found = {t.name: (t.changed, t.added, t.deleted) for t in result.tables}
        for table, counts in EXPECTED.items():
            assert found[table] == counts, table
        # cron_triggers/cron_dispatch, versions, runs... were not touched: nothing moved.
        assert found["workflow_versions"] == (0, 0, 0)
        assert result.changed_rows == sum(sum(c) for c in EXPECTED.values())
        assert next(r["payload"] for r in delta_rows(folder, 1, "run_history_steps")) == {
            "step": 1,
            "edited": True,
        }
        await _equal_to_fresh_copy(tmp_path, data, target, "after-sync")

        async with legacy.legacy_source(data) as source:
            again = await sync(source, target.bulk(), folder)
        assert again.ok
        assert again.generation == 2
        assert again.scanned
        assert again.changed_rows == 0
        assert again.batches_applied == 0
        # Numbering continues after the synced rows (apply_changes raised the counters).
        step = await target.history().append_step("exec-2", {"next": True})
        assert step.index == 2


class _Crashing:
    """The real PostgreSQL bulk hooks, failing (like a killed process) after ``n`` batches."""

    def __init__(self, inner: BulkTransfer, n: int) -> None:
        self._inner = inner
        self._left = n

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def apply_changes(
        self,
        table: str,
        upserts: list[JsonObject],
        deletes: list[list[JsonValue]],
        *,
        batch_id: str,
    ) -> bool:
        if self._left == 0:
            raise RuntimeError("simulated crash between batches")
        self._left -= 1
        return await self._inner.apply_changes(table, upserts, deletes, batch_id=batch_id)


@pytest.mark.parametrize("crash_after", [0, 3, 7])
async def test_killed_apply_resumes_exactly_once(tmp_path: Path, crash_after: int) -> None:
    async with _copied_then_changed(tmp_path) as (data, folder, target):
        async with legacy.legacy_source(data) as source:
            with pytest.raises(RuntimeError, match="simulated crash"):
                await sync(source, _Crashing(target.bulk(), crash_after), folder, batch_size=1)
            resumed = await sync(source, target.bulk(), folder, batch_size=1)
        assert not resumed.scanned
        assert resumed.generation == 1
        assert resumed.batches_skipped == crash_after
        assert resumed.ok, resumed.verified and [str(d) for d in resumed.verified.differences]
        await _equal_to_fresh_copy(tmp_path, data, target, "resumed")


async def test_sync_names_a_target_changed_behind_its_back(tmp_path: Path) -> None:
    async with _copied_then_changed(tmp_path) as (data, folder, target):
        async with legacy.legacy_source(data) as source:
            result = await sync(source, target.bulk(), folder)
        assert result.ok
        bulk = target.bulk()
        # Behind the sync's back: remove the chat item it added, alter a step it updated.
        added = list(delta_rows(folder, 1, "chat_items"))
        assert [r["id"] for r in added] == ["msg_2"]
        step = next(r for r in delta_rows(folder, 1, "run_history_steps") if r["index"] == 1)
        await bulk.apply_changes(
            "run_history_steps", [{**step, "payload": {"tampered": 1}}], [], batch_id="tamper"
        )
        await bulk.apply_changes("chat_items", [], [["thr_1", 2]], batch_id="tamper-2")
        # ... and put back the chat item it deleted (from the export taken before).
        exported = FolderSource(folder)
        old_items = [r async for b in exported.export_rows("chat_items") for r in b]
        old_item = next(r for r in old_items if r["ordinal"] == 1)
        await bulk.apply_changes("chat_items", [old_item], [], batch_id="tamper-3")
        state_tables = (await sync_state(folder)).tables
        report = await verify_generation(
            bulk, folder / "sync" / "gen-0001", state_tables, reporter=_quiet()
        )
        kinds = {(d.table, d.kind) for d in report.differences}
        assert ("run_history_steps", Kind.CHANGED) in kinds
        assert ("chat_items", Kind.MISSING) in kinds
        assert ("chat_items", Kind.EXTRA) in kinds
        changed = next(d for d in report.differences if d.kind == Kind.CHANGED)
        assert changed.columns == ("payload",)
        assert "exec-1, 1" in changed.key
        assert not report.ok


async def sync_state(folder: Path) -> Any:
    from orcheo_storage.migration.sync import read_state

    state = read_state(folder, 1)
    assert state is not None
    return state


def _quiet() -> Any:
    from orcheo_storage.migration.progress import NullReporter

    return NullReporter()


async def test_sync_refuses_what_it_cannot_trust(tmp_path: Path) -> None:
    data, folder = tmp_path / "legacy", tmp_path / "export"
    legacy.build_legacy(data, old=False)
    async with legacy.pg_target(tmp_path / "target") as target:
        from orcheo_storage.migration.export import export

        async with legacy.legacy_source(data) as source:
            await export(source, folder)
            with pytest.raises(MigrationError, match="not imported"):
                await sync(source, target.bulk(), folder)
            assert not (folder / "sync").exists() or not any((folder / "sync").iterdir())
        async with legacy.legacy_source(data) as source:
            assert (await migrate(source, target, folder, verify_against_source=False)).ok
        versions = next((folder / "run_history_steps").glob("*.versions"))
        versions.write_bytes(versions.read_bytes().replace(b"exec-1", b"exec-9", 1))
        async with legacy.legacy_source(data) as source:
            with pytest.raises(BatchCorruptError, match="does not match"):
                await sync(source, target.bulk(), folder)
        other = tmp_path / "other"
        legacy.build_legacy(other, old=False)
        async with legacy.legacy_source(other) as source:
            with pytest.raises(StorageError, match="taken from"):
                await sync(source, target.bulk(), folder)


async def _sqlite_sync_round(first: dict[str, Any], second: dict[str, Any], tmp: Path) -> None:
    async with AsyncExitStack() as stack:
        s1 = await stack.enter_async_context(backends.provisioned("sqlite", tmp))
        s2 = await stack.enter_async_context(backends.provisioned("postgres", tmp))
        source = await stack.enter_async_context(backends.opened("sqlite", s1, schema=True))
        await support.populate(source, first, s1)
        target = await stack.enter_async_context(backends.opened("postgres", s2, schema=False))
        rows = BackendSource(source, "sqlite source")
        assert (await migrate(rows, target, tmp / "export", batch_size=3)).ok
        # Writes after the copy: new rows everywhere, an update, a deleted chat thread.
        await support.populate(source, second, s1, webhook=False)
        repo = source.workflows()
        renamed = (await repo.list_workflows())[0]
        await repo.update_workflow(
            renamed.id, WorkflowChanges(name="renamed after the copy"), actor="test"
        )
        threads = [r async for b in source.bulk().export_rows("chat_threads") for r in b]
        context = ChatContext(workflow_id=str(threads[0]["workflow_id"]))
        await source.chatkit().delete_thread(str(threads[0]["id"]), context)
        result = await sync(rows, target.bulk(), tmp / "export", batch_size=3)
        assert result.ok, result.verified and [str(d) for d in result.verified.differences]
        assert result.changed_rows > 0
        report = await verify(rows, BackendSource(target, "synced"))
        assert report.ok, [str(d) for d in report.differences]
        again = await sync(rows, target.bulk(), tmp / "export")
        assert again.ok
        assert again.changed_rows == 0
        # A third generation builds on the second's versions.
        await support.populate(source, first, s1, webhook=False)
        third = await sync(rows, target.bulk(), tmp / "export", batch_size=5)
        assert third.ok
        assert third.generation == 3
        assert third.changed_rows > 0
        report = await verify(rows, BackendSource(target, "synced"))
        assert report.ok, [str(d) for d in report.differences]


@settings(
    max_examples=3,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking real databases is slow
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(first=support.dataset(), second=support.dataset())
def test_sync_from_a_backend_source_carries_generated_changes(
    first: dict[str, Any], second: dict[str, Any], tmp_path: Path
) -> None:
    folder = tmp_path / os.urandom(4).hex()
    folder.mkdir()
    asyncio.run(_sqlite_sync_round(first, second, folder))


async def test_rollback_direction_postgres_to_sqlite_syncs_post_cutover_writes(
    tmp_path: Path,
) -> None:
    async with AsyncExitStack() as stack:
        s1 = await stack.enter_async_context(backends.provisioned("postgres", tmp_path))
        s2 = await stack.enter_async_context(backends.provisioned("sqlite", tmp_path))
        pg = await stack.enter_async_context(backends.opened("postgres", s1, schema=True))
        await support.populate(pg, backends.EXAMPLE, s1)
        back = await stack.enter_async_context(backends.opened("sqlite", s2, schema=True))
        rows = BackendSource(pg, "postgres source")
        assert (await migrate(rows, back, tmp_path / "rollback", batch_size=4)).ok
        runs = [r async for b in pg.bulk().export_rows("workflow_runs") for r in b]
        # Writes after the rollback copy, on PostgreSQL: they must reach the SQLite files.
        await support.populate(pg, backends.EXAMPLE, s1, webhook=False)
        await pg.workflows().transition_run(
            uuid.UUID(str(runs[0]["id"])), RunStatus.SUCCEEDED, actor="test", output={"done": 1}
        )
        result = await sync(rows, back.bulk(), tmp_path / "rollback", batch_size=4)
        assert result.ok, result.verified and [str(d) for d in result.verified.differences]
        changed = {t.name: t.changed for t in result.tables}
        assert changed["workflow_runs"] == 1
        report = await verify(rows, BackendSource(back, "sqlite copy"))
        assert report.ok, [str(d) for d in report.differences]
