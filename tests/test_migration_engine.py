"""The migration engine on the memory backend: round trips, resume rules, verify, bad rows."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

import migration_support as support
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from orcheo_storage.migration.export import export
from orcheo_storage.migration.folder import FolderSource
from orcheo_storage.migration.importer import BadRowError, import_folder
from orcheo_storage.migration.manifest import (
    BatchCorruptError,
    Manifest,
    MigrationError,
    SourceChangedError,
    read_manifest,
    write_manifest,
)
from orcheo_storage.migration.plan import make_plan
from orcheo_storage.migration.run import migrate, open_backend
from orcheo_storage.migration.sources import BackendSource
from orcheo_storage.migration.tables import LOGICAL_TABLES, dependency_order
from orcheo_storage.migration.verify import Kind, verify
from orcheo_storage.settings import StorageSettings

MEMORY = StorageSettings(
    repository_backend="memory",
    checkpoint_backend="memory",
    chatkit_backend="memory",
    vault_backend="memory",
    auth_service_token_backend="memory",
    vault_encryption_key="migration-test-key",
)


async def _all_rows(source: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for table in source.tables():
        out[table] = [row async for batch in source.export_rows(table) for row in batch]
    return out


async def _populated(data: dict[str, Any]) -> Any:
    session = await open_backend("memory", MEMORY)
    await support.populate(session, data, MEMORY)
    return session


def test_dependency_order_puts_parents_first() -> None:
    order = dependency_order()
    assert sorted(order) == sorted(t.name for t in LOGICAL_TABLES)
    for table in LOGICAL_TABLES:
        for parent in table.parents:
            assert order.index(parent) < order.index(table.name), (parent, table.name)
    assert dependency_order(["chat_items", "chat_threads"]) == ["chat_threads", "chat_items"]


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=support.dataset())
def test_round_trip_memory_to_memory_every_subsystem(data: dict[str, Any], tmp_path: Path) -> None:
    async def body() -> None:
        source = await _populated(data)
        target = await open_backend("memory", MEMORY)
        folder = tmp_path / os.urandom(4).hex()
        summary = await migrate(BackendSource(source, "src"), target, folder, batch_size=3)
        assert summary.ok, [str(d) for d in summary.verified.differences]
        assert summary.imported is not None
        for counts in summary.imported.tables.values():
            assert counts.adds_up
            assert counts.rejected == 0
        # Independent of the checksums: every logical row is equal on both sides.
        src_rows = await _all_rows(BackendSource(source, "src"))
        dst_rows = await _all_rows(BackendSource(target, "dst"))
        assert src_rows == dst_rows
        non_empty = {t for t, rows in src_rows.items() if rows}
        assert non_empty >= {
            "workflows", "workflow_versions", "workflow_runs", "webhook_triggers",
            "cron_triggers", "cron_dispatch", "retry_policies", "retry_attempts",
            "listener_subscriptions", "listener_cursors", "listener_dedupe",
            "remediation_candidates", "run_histories", "service_tokens",
            "service_token_audit", "agentensor_checkpoints", "vault_credentials",
            "chat_threads", "chat_items",
        }  # fmt: skip

    asyncio.run(body())


def _example() -> dict[str, Any]:
    return {
        "workflows": [
            {"name": "wf", "tags": ["a"], "graph": {"n": 1}, "inputs": {"big": 2**80, "f": 0.1},
             "steps": [{"s": i} for i in range(5)]}
            for _ in range(4)
        ],
        "metrics": {"acc": 0.5}, "cursor": {"c": "x"}, "token_details": {"d": [1, 2.5]},
        "secret": "s3cret", "chat_title": "t", "chat_metadata": {"x": "y"}, "messages": ["hi", "ho"],
    }  # fmt: skip


async def test_import_twice_imports_each_batch_once(tmp_path: Path) -> None:
    source = await _populated(_example())
    target = await open_backend("memory", MEMORY)
    await export(BackendSource(source, "src"), tmp_path / "e", batch_size=2)
    first = await import_folder(target.bulk(), tmp_path / "e")
    second = await import_folder(target.bulk(), tmp_path / "e")
    assert first.batches_imported > 0
    assert second.batches_imported == 0
    assert second.batches_skipped == first.batches_imported
    assert all(c.already == c.source and c.adds_up for c in second.tables.values())
    report = await verify(BackendSource(source, "src"), BackendSource(target, "dst"))
    assert report.ok


async def test_resume_against_changed_source_is_refused(tmp_path: Path) -> None:
    session = await _populated(_example())
    source = BackendSource(session, "src")
    folder = tmp_path / "e"
    await export(source, folder, batch_size=2)
    # A finished export against the same source is a no-op resume.
    again = await export(source, folder, batch_size=2)
    assert again.resumed
    assert again.rows_written == 0
    # Make it partial again, then change the source: resuming must be refused.
    manifest = read_manifest(folder)
    assert manifest is not None
    write_manifest(folder, manifest.model_copy(update={"complete": False}))
    await session.service_tokens().record_audit_event(
        support.TokenAuditEvent(token_id="x", action="a", timestamp=support.utcnow())
    )
    with pytest.raises(SourceChangedError, match=r"service_token_audit: 1 rows -> 2 rows"):
        await export(source, folder, batch_size=2)
    fresh = await export(source, folder, batch_size=2, fresh=True)
    assert fresh.manifest.complete
    assert fresh.tables["service_token_audit"] == 2


async def test_export_folder_of_an_earlier_version(tmp_path: Path) -> None:
    """Folders written before batch lines had sorted keys: complete ones still import and
    verify; a partial one is refused by name (its batches could not be matched)."""
    session = await _populated(_example())
    source = BackendSource(session, "src")
    folder = tmp_path / "e"
    await export(source, folder, batch_size=2)
    manifest = read_manifest(folder)
    assert manifest is not None
    assert manifest.line_keys == "sorted"
    # An earlier version's manifest has no line_keys field.
    raw = json.loads((folder / "manifest.json").read_bytes())
    del raw["line_keys"]
    (folder / "manifest.json").write_text(json.dumps(raw))
    again = await export(source, folder, batch_size=2)
    assert again.resumed
    assert again.rows_written == 0
    target = await open_backend("memory", MEMORY)
    await import_folder(target.bulk(), folder)
    assert (await verify(FolderSource(folder), BackendSource(target, "dst"))).ok
    (folder / "manifest.json").write_text(json.dumps({**raw, "complete": False}))
    with pytest.raises(MigrationError, match=r"started by an earlier orcheo-storage"):
        await export(source, folder, batch_size=2)
    assert (await export(source, folder, batch_size=2, fresh=True)).manifest.complete


def _rewrite(folder: Path, table: str, edit: Any, batch: int = 0) -> None:
    """Change a batch file and record the change in the manifest (a tampered export)."""
    manifest = read_manifest(folder)
    assert manifest is not None
    path = folder / table / f"{batch:06d}.jsonl"
    lines = [json.loads(line) for line in path.read_bytes().splitlines()]
    lines = edit(lines)
    data = b"".join(json.dumps(row).encode() + b"\n" for row in lines)
    path.write_bytes(data)
    tables = []
    for entry in manifest.tables:
        if entry.name == table:
            batches = [
                b.model_copy(
                    update={"sha256": hashlib.sha256(data).hexdigest(), "rows": len(lines)}
                )
                if b.batch == batch
                else b
                for b in entry.batches
            ]
            entry = entry.model_copy(
                update={"batches": batches, "rows": sum(b.rows for b in batches)}
            )
        tables.append(entry)
    write_manifest(folder, Manifest.model_validate({**manifest.model_dump(), "tables": tables}))


async def test_verify_names_changed_missing_and_duplicated_rows(tmp_path: Path) -> None:
    session = await _populated(_example())
    await export(BackendSource(session, "src"), tmp_path / "a", batch_size=100)
    await export(BackendSource(session, "src"), tmp_path / "b", batch_size=100)
    steps = [
        json.loads(x)
        for x in (tmp_path / "a/run_history_steps/000000.jsonl").read_bytes().splitlines()
    ]
    changed, deleted, duplicated = steps[1], steps[3], steps[6]

    def edit(rows: list[Any]) -> list[Any]:
        out = []
        for row in rows:
            if row == changed:
                row = {**row, "payload": {"s": "tampered"}}
            if row == deleted:
                continue
            out.append(row)
            if row == duplicated:
                out.append(row)
        return out

    _rewrite(tmp_path / "b", "run_history_steps", edit)
    report = await verify(FolderSource(tmp_path / "a"), FolderSource(tmp_path / "b"))
    assert not report.ok
    found = {(d.table, d.key, d.kind, d.columns) for d in report.differences}
    assert found == {
        (
            "run_history_steps",
            f"{changed['execution_id']}, {changed['index']}",
            Kind.CHANGED,
            ("payload",),
        ),
        ("run_history_steps", f"{deleted['execution_id']}, {deleted['index']}", Kind.MISSING, ()),
        (
            "run_history_steps",
            f"{duplicated['execution_id']}, {duplicated['index']}",
            Kind.DUPLICATE,
            (),
        ),
    }
    others = [t for t in report.tables if t.table != "run_history_steps"]
    assert all(t.ok for t in others)


async def test_corrupt_batch_is_refused_before_import(tmp_path: Path) -> None:
    session = await _populated(_example())
    await export(BackendSource(session, "src"), tmp_path / "e", batch_size=2)
    path = tmp_path / "e/workflows/000000.jsonl"
    path.write_bytes(path.read_bytes().replace(b'"wf', b'"WF', 1))
    target = await open_backend("memory", MEMORY)
    with pytest.raises(BatchCorruptError, match=r"workflows/000000.jsonl has SHA-256"):
        await import_folder(target.bulk(), tmp_path / "e")
    assert await target.bulk().imported_batches() == set()


async def test_bad_rows_stop_by_default_or_go_to_a_0600_reject_file(tmp_path: Path) -> None:
    session = await _populated(_example())
    folder = tmp_path / "e"
    await export(BackendSource(session, "src"), folder, batch_size=3)
    bad_id: list[str] = []

    def edit(rows: list[Any]) -> list[Any]:
        bad_id.append(rows[1]["id"])
        rows[1] = {**rows[1], "name": "   "}  # a blank name: the target refuses it
        return rows

    _rewrite(folder, "workflows", edit)
    target = await open_backend("memory", MEMORY)
    with pytest.raises(BadRowError) as err:
        await import_folder(target.bulk(), folder)
    assert err.value.table == "workflows"
    assert err.value.key == bad_id[0]
    assert "name" in err.value.reason

    rejects = tmp_path / "rejects.jsonl"
    result = await import_folder(target.bulk(), folder, reject_file=rejects, max_rejects=5)
    assert stat.S_IMODE(rejects.stat().st_mode) == 0o600
    lines = [json.loads(x) for x in rejects.read_bytes().splitlines()]
    assert [(r["table"], r["key"]) for r in lines] == [("workflows", [bad_id[0]])]
    for table, counts in result.tables.items():
        assert counts.adds_up, (table, counts)
    assert result.tables["workflows"].rejected == 1
    total = sum(c.imported + c.already for c in result.tables.values())
    assert total + result.rejected == sum(c.source for c in result.tables.values())
    # Again: nothing new, the reject is not recorded twice, counts still add up.
    again = await import_folder(target.bulk(), folder, reject_file=rejects, max_rejects=5)
    assert again.batches_imported == 0
    assert again.tables["workflows"].rejected == 1
    assert len(rejects.read_bytes().splitlines()) == 1


async def test_reject_limit_stops_the_import(tmp_path: Path) -> None:
    session = await _populated(_example())
    folder = tmp_path / "e"
    await export(BackendSource(session, "src"), folder, batch_size=10)
    _rewrite(folder, "workflows", lambda rows: [{**r, "name": " "} for r in rows])
    target = await open_backend("memory", MEMORY)
    with pytest.raises(BadRowError, match="more than 2 rejected rows"):
        await import_folder(target.bulk(), folder, reject_file=tmp_path / "r.jsonl", max_rejects=2)


async def test_plan_changes_nothing(tmp_path: Path) -> None:
    session = await _populated(_example())
    target = await open_backend("memory", MEMORY)
    folder = tmp_path / "never-created"
    plan = await make_plan(BackendSource(session, "src"), folder, target=target, batch_size=4)
    assert not folder.exists()
    assert plan.export_state == "absent"
    steps = {t.table: t for t in plan.tables}
    assert steps["run_history_steps"].rows == 20
    assert steps["run_history_steps"].batches == 5
    assert await target.bulk().imported_batches() == set()
    for table in steps:
        assert await target.bulk().count_rows(table) == 0


@given(
    st.lists(
        st.tuples(st.none() | st.text(max_size=3), st.none() | st.integers(-3, 3)), max_size=12
    )
)
def test_verify_orders_keys_with_null_parts_first(keys: list[tuple[Any, Any]]) -> None:
    """The merge compares keys as SQL orders them: a NULL part before every value."""
    from orcheo_storage.migration.verify import _sortable

    def sql_order(key: tuple[Any, Any]) -> tuple[tuple[int, Any], ...]:
        return tuple((0, 0) if part is None else (1, part) for part in key)

    assert sorted(keys, key=_sortable) == sorted(keys, key=sql_order)
    for a in keys:
        for b in keys:
            assert (_sortable(a) == _sortable(b)) == (a == b)
