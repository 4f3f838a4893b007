"""Error translation and redaction, bulk export/import with the ledger, chat search, LangGraph."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from orcheo_storage.chatkit_types import ThreadMetadata
from orcheo_storage.errors import BackendUnavailableError, UnsupportedError
from orcheo_storage.jsoncodec import JsonObject
from orcheo_storage.migration.tables import LOGICAL_TABLES
from orcheo_storage.models.chat import ChatContext
from orcheo_storage_postgres.plugin import PostgresBackend, _langgraph_installed
from orcheo_storage_postgres.session import PostgresSession

from .conftest import make_settings

PASSWORD = "Sup3r-S3cret-Canary"


async def test_unreachable_server_is_typed_and_redacted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = make_settings(
        f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/postgres", postgres_pool_timeout=1.0
    )
    with pytest.raises(BackendUnavailableError) as info:
        await PostgresSession.open(settings)
    assert PASSWORD not in str(info.value)
    assert PASSWORD not in repr(info.value)
    assert info.value.__cause__ is None
    assert PASSWORD not in caplog.text


async def test_repr_hides_password(pg_dsn: str, tmp_path: Path) -> None:
    dsn = pg_dsn.replace("postgres@", f"postgres:{PASSWORD}@", 1)
    async with PostgresBackend().provision(make_settings(dsn), tmp_path) as settings:
        session = await PostgresSession.open(settings)
        try:
            assert PASSWORD not in repr(session)
            assert PASSWORD not in repr(session.db)
            assert PASSWORD not in repr(settings)
        finally:
            await session.close()


async def _fill(session: PostgresSession) -> None:
    repo = session.workflows()
    wf = await repo.create_workflow(name="Bulk", actor="a", handle="bulk")
    v = await repo.create_version(wf.id, graph={"big": 2**70, "f": 0.1}, created_by="a")
    await repo.create_run(wf.id, workflow_version_id=v.id, triggered_by="a")
    await session.history().start_run(execution_id="e", workflow_id=str(wf.id))
    await session.history().append_step("e", {"x": 1})
    await session.agentensor().record_checkpoint(workflow_id="w", metrics={"m": 1})
    ctx = ChatContext(workflow_id=str(wf.id))
    await session.chatkit().save_thread(
        ThreadMetadata(id="thr_1", created_at=datetime.now(UTC)), ctx
    )


async def _dump(session: PostgresSession) -> dict[str, list[JsonObject]]:
    bulk = session.bulk()
    out: dict[str, list[JsonObject]] = {}
    for table in LOGICAL_TABLES:
        rows: list[JsonObject] = []
        async for batch in bulk.export_rows(table.name, batch_size=2):
            rows.extend(batch)
        out[table.name] = rows
        assert await bulk.count_rows(table.name) == len(rows)
    return out


async def test_bulk_round_trip_with_ledger(pg_dsn: str, tmp_path: Path) -> None:
    backend = PostgresBackend()
    async with (
        backend.provision(make_settings(pg_dsn), tmp_path) as src_settings,
        backend.provision(make_settings(pg_dsn), tmp_path) as dst_settings,
    ):
        src = await PostgresSession.open(src_settings)
        dst = await PostgresSession.open(dst_settings)
        try:
            await _fill(src)
            exported = await _dump(src)
            assert exported["workflow_versions"][0]["graph"] == {"big": 2**70, "f": 0.1}
            for table in LOGICAL_TABLES:  # parents first
                rows = exported[table.name]
                if rows:
                    assert await dst.bulk().import_batch(
                        table.name, rows, batch_id=f"b-{table.name}"
                    )
            # Re-importing a batch is a no-op (exactly once).
            assert not await dst.bulk().import_batch(
                "workflows", exported["workflows"], batch_id="b-workflows"
            )
            assert "b-workflows" in await dst.bulk().imported_batches()
            assert await _dump(dst) == exported
            # Numbering continues after the imported rows.
            wf_id = (await dst.workflows().list_workflows())[0].id
            nxt = await dst.workflows().create_version(wf_id, graph={}, created_by="a")
            assert nxt.version == 2
            assert (await dst.history().append_step("e", {})).index == 1
        finally:
            await src.close()
            await dst.close()


async def test_chat_search_and_filter(session: PostgresSession) -> None:
    from chatkit.types import InferenceOptions, UserMessageItem, UserMessageTextContent

    chat = session.chatkit()
    ctx = ChatContext(workflow_id="wf-1", metadata={"team": "blue"})
    await chat.save_thread(ThreadMetadata(id="t1", created_at=datetime.now(UTC)), ctx)
    for i, text in enumerate(["the quick brown fox", "lazy dogs sleep", "a quick reply"]):
        item = UserMessageItem(
            id=f"m{i}",
            thread_id="t1",
            created_at=datetime.now(UTC),
            content=[UserMessageTextContent(text=text)],
            inference_options=InferenceOptions(),
        )
        await chat.add_thread_item("t1", item, ctx)
    assert [i.id for i in await chat.search_items("t1", "quick", ctx)] == ["m0", "m2"]
    assert (await chat.load_thread("t1", ctx)).title == "the quick brown fox"[:20]
    found = await chat.filter_threads({"team": "blue"}, ctx)
    assert [t.id for t in found] == ["t1"]
    assert await chat.filter_threads({"team": "red"}, ctx) == []
    with pytest.raises(Exception, match="chat thread"):
        await chat.load_thread("t1", ChatContext(workflow_id="other"))


async def test_langgraph_checkpointer(session: PostgresSession) -> None:
    if not _langgraph_installed():
        with pytest.raises(UnsupportedError, match=r"orcheo-storage-postgres\[langgraph\]"):
            async with session.langgraph_checkpointer():
                pass
        return
    async with session.langgraph_checkpointer() as saver:
        assert type(saver).__name__ == "AsyncPostgresSaver"
        assert await saver.aget_tuple({"configurable": {"thread_id": "none"}}) is None


@pytest.mark.parametrize(("raw", "expected"), [("none", None), ("", None), ("0", 0), ("5", 5)])
def test_prepare_threshold_from_environment(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: int | None
) -> None:
    from orcheo_storage.settings import load_settings
    from orcheo_storage_postgres._db import connection_kwargs

    monkeypatch.setenv("ORCHEO_POSTGRES_PREPARE_THRESHOLD", raw)
    settings = load_settings(postgres_dsn="postgresql://u@h/db", repository_backend="postgres")
    assert connection_kwargs(settings)["prepare_threshold"] == expected


async def test_bulk_import_takes_only_iso_timestamps_and_types_missing_parents(
    session: PostgresSession,
) -> None:
    from orcheo_storage.errors import NotFoundError, ValidationError

    bulk = session.bulk()
    await session.history().start_run(execution_id="e", workflow_id="w")
    step = {"execution_id": "e", "index": 0, "at": "yesterday", "payload": {"x": 1}}
    # PostgreSQL alone would read 'yesterday' as a timestamp; the logical row may not.
    with pytest.raises(ValidationError, match="ISO-8601") as info:
        await bulk.import_batch("run_history_steps", [step], batch_id="b1")
    assert info.value.field == "at"
    naive = {**step, "at": "2025-01-02T03:04:05.123456"}  # naive means UTC, as in the stores
    assert await bulk.import_batch("run_history_steps", [naive], batch_id="b2")
    rows = [r async for b in bulk.export_rows("run_history_steps") for r in b]
    assert [datetime.fromisoformat(str(r["at"])) for r in rows] == [
        datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    ]
    orphan = {**naive, "execution_id": "no-such-run"}
    with pytest.raises(NotFoundError, match="referenced row is missing"):
        await bulk.import_batch("run_history_steps", [orphan], batch_id="b3")
    assert "b1" not in await bulk.imported_batches()
    assert "b3" not in await bulk.imported_batches()
