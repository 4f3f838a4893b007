"""Benchmark (by hand, not CI): a lean, checked legacy -> PostgreSQL migrate, no framework.

The question it answers: how fast can a migration that does the checks the migration
issue requires go on this machine, written as tightly as Python allows? It covers the
four tables that hold 99.9% of a generated source (run histories and their steps, chat
threads and items) with the same work per row as ``migrate run``, minus everything a
product needs around it:

- export: rows read in key order, every JSON text parsed (orjson, with the codec's
  exactness check), timestamps as UTC, each row encoded once with sorted keys (its
  batch line), its canonical digest (SHA-256 over the UTC-microsecond form), a row
  version (BLAKE2b of the raw columns), batch, index and versions files written to a
  temporary name, fsynced and renamed, a journal line fsynced;
- import (a thread, so PostgreSQL's COPY overlaps the export): one COPY text payload per
  batch and its ledger row in one transaction, foreign keys on;
- verify: every row read back in key order with ``COPY ... TO STDOUT``, decoded, encoded
  canonically and compared with the export's digest.

Not done here and done by ``migrate run``: ChatKit and model validation of every row,
resume bookkeeping, the manifest and fingerprint, progress and reporting, the small
tables. So its CPU is a lower bound for this design in Python. CPU is measured for this
process and for the PostgreSQL server (see ``migration_floor.py``). Usage::

    ORCHEO_POSTGRES_DSN=postgresql://postgres@127.0.0.1:5432/postgres \\
      python benchmarks/migration_lean.py /tmp/mig/big --from-schema prof
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pickle
import queue
import resource
import sqlite3
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import psycopg
from migration_floor import measured
from orcheo_storage.migration.canonical import canonical_bytes
from orcheo_storage.migration.files import append_durable, write_atomic
from orcheo_storage.migration.legacy.fitting import utc_text

from orcheo_storage import _jsonfast

Mapped = tuple[tuple[Any, ...], bytes, bytes]  # key, sorted row encoding, COPY line
SLOW = {"literals": 0}


def _esc(data: bytes) -> bytes:
    """A COPY text field (JSON text holds no raw tab, newline or carriage return)."""
    return data.replace(b"\\", b"\\\\") if b"\\" in data else data


def _doc(text: str | bytes) -> Any:
    raw = text.encode() if isinstance(text, str) else text
    value = orjson.loads(raw)
    if not _jsonfast.literals_safe(raw):
        SLOW["literals"] += 1  # the product takes its exact path here
    return value


def _enc(value: Any) -> bytes:
    out = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    if _jsonfast.has_exponent(out) or _jsonfast.has_tiny_positional(out):
        SLOW["literals"] += 1
    return out


def _js(value: Any) -> bytes:
    return orjson.dumps(value)


def _text(value: Any) -> bytes:
    if value is None:
        return b"\\N"
    return _esc(value.encode() if isinstance(value, str) else _enc(value))


def _step_row(at: str, eid: str, index: bytes, payload: bytes) -> bytes:
    return (b'{"at":' + _js(at) + b',"execution_id":' + _js(eid) + b',"index":' + index
            + b',"payload":' + payload + b"}")  # fmt: skip


def _item_row(created: str, iid: str, item: bytes, ordinal: bytes, tid: str) -> bytes:
    return (b'{"created_at":' + _js(created) + b',"id":' + _js(iid) + b',"item":' + item
            + b',"ordinal":' + ordinal + b',"thread_id":' + _js(tid) + b"}")  # fmt: skip


def map_step(r: tuple[Any, ...]) -> Mapped:
    eid, index, at, payload = r
    doc, stamp, number = _enc(_doc(payload)), utc_text(at), str(index).encode()
    row = _step_row(stamp, eid, number, doc)
    return (eid, index), row, b"\t".join((_esc(eid.encode()), number, stamp.encode(), _esc(doc)))


def map_item(r: tuple[Any, ...]) -> Mapped:
    iid, tid, ordinal, _kind, item_json, created = r
    payload = _doc(item_json)
    payload.setdefault("thread_id", tid)
    doc, stamp = _enc(payload), utc_text(created or payload.get("created_at"))
    number = str(ordinal).encode()
    row = _item_row(stamp, iid, doc, number, tid)
    line = (_esc(tid.encode()), _esc(iid.encode()), number, stamp.encode(), _esc(doc))
    return (tid, ordinal), row, b"\t".join(line)


THREAD = ("id", "title", "created_at", "updated_at", "status", "allowed_image_domains",
          "metadata", "workflow_id")  # fmt: skip


def map_thread(r: tuple[Any, ...]) -> Mapped:
    tid, title, workflow, status, meta, created, updated = r
    metadata = _doc(meta) if meta else {}
    row = {
        "id": tid, "title": title, "created_at": utc_text(created),
        "updated_at": utc_text(updated or created),
        "status": _doc(status) if status else {"type": "active"},
        "allowed_image_domains": metadata.get("allowed_image_domains"),
        "metadata": metadata, "workflow_id": workflow or metadata.get("workflow_id"),
    }  # fmt: skip
    return (tid,), _enc(row), b"\t".join(_text(row[c]) for c in THREAD)


HISTORY = ("execution_id", "workflow_id", "inputs", "runnable_config", "tags", "callbacks",
           "metadata", "run_name", "status", "started_at", "completed_at", "error", "trace_id",
           "trace_started_at", "trace_completed_at", "trace_last_span_at")  # fmt: skip


def map_history(r: tuple[Any, ...]) -> Mapped:
    row = dict(zip(HISTORY, r, strict=True))
    for column in ("inputs", "runnable_config", "metadata"):
        row[column] = _doc(row[column] or "{}")
    for column in ("tags", "callbacks"):
        row[column] = _doc(row[column]) if row[column] else []
    for column in HISTORY[9:11] + HISTORY[12:]:
        if column != "trace_id":
            row[column] = utc_text(row[column])
    return (row["execution_id"],), _enc(row), b"\t".join(_text(row[c]) for c in HISTORY)


# (file, query, mapper, target table, COPY columns, key), parents first.
TABLES: list[tuple[str, str, Callable[[tuple[Any, ...]], Mapped], str, str, str]] = [
    ("workflows.sqlite", "SELECT * FROM execution_history ORDER BY execution_id",
     map_history, "run_histories", ", ".join(HISTORY), "execution_id"),
    ("workflows.sqlite", "SELECT execution_id, step_index, at, payload FROM "
     "execution_history_steps ORDER BY execution_id, step_index", map_step,
     "run_history_steps", "execution_id, step_index, at, payload", "execution_id, step_index"),
    ("chatkit.sqlite", "SELECT * FROM chat_threads ORDER BY id", map_thread, "chat_threads",
     ", ".join(THREAD), "id"),
    ("chatkit.sqlite", "SELECT id, thread_id, ordinal, item_type, item_json, created_at "
     "FROM chat_messages ORDER BY thread_id, ordinal", map_item, "chat_items",
     "thread_id, id, ordinal, created_at, item", "thread_id, ordinal"),
]  # fmt: skip


def importer(dsn: str, schema: str, jobs: queue.Queue[tuple[str, str, str, bytes] | None]) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute(f"SET search_path = {schema}")
        while (job := jobs.get()) is not None:
            table, columns, batch_id, payload = job
            conn.execute(
                "INSERT INTO orcheo_migration_ledger (batch_id, table_name, row_count)"
                " VALUES (%s, %s, %s)",
                (batch_id, table, payload.count(b"\n")),
            )
            with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                copy.write(payload)
            conn.commit()


def export_import(data: Path, folder: Path, dsn: str, schema: str) -> dict[str, list[bytes]]:
    jobs: queue.Queue[tuple[str, str, str, bytes] | None] = queue.Queue(maxsize=2)
    thread = threading.Thread(target=importer, args=(dsn, schema, jobs))
    thread.start()
    digests: dict[str, list[bytes]] = {}
    try:
        for name, query, mapper, table, columns, _ in TABLES:
            db = sqlite3.connect(f"file:{data / name}?mode=ro", uri=True)
            cursor = db.execute(query)
            (folder / table).mkdir(parents=True)
            digests[table] = found = []
            number = 0
            while batch := cursor.fetchmany(2000):
                mapped = [mapper(r) for r in batch]
                versions = b"".join(
                    hashlib.blake2b(pickle.dumps(r, 5), digest_size=16).digest() for r in batch
                )
                lines = b"".join(row + b"\n" for _, row, _ in mapped)
                row_digests = [
                    hashlib.sha256(canonical_bytes(row)).digest() for _, row, _ in mapped
                ]
                found.extend(row_digests)
                index = b"".join(
                    orjson.dumps([*k, d.hex()]) + b"\n"
                    for (k, _, _), d in zip(mapped, row_digests, strict=True)
                )
                write_atomic(folder / table / f"{number}.index", index)
                write_atomic(folder / table / f"{number}.versions", versions)
                write_atomic(folder / table / f"{number}.jsonl", lines)
                entry = {
                    "batch": number,
                    "rows": len(batch),
                    "sha256": hashlib.sha256(lines).hexdigest(),
                }
                append_durable(folder / table / "journal", orjson.dumps(entry) + b"\n")
                payload = b"".join(copy + b"\n" for _, _, copy in mapped)
                jobs.put((table, columns, f"{table}:{number}", payload))
                number += 1
            db.close()
    finally:
        jobs.put(None)
        thread.join()
    return digests


def _stamp(field: bytes) -> str:
    text = field.decode().replace(" ", "T")
    return text + ":00" if text[-3] in "+-" else text


def verify(dsn: str, schema: str, digests: dict[str, list[bytes]]) -> int:
    """Rows of the two big tables whose read-back digest differs (the small ones are only read)."""
    differences = 0
    with psycopg.connect(dsn) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        for _, _, _, table, columns, key in TABLES:
            expected, at = digests[table], 0
            query = f"COPY (SELECT {columns} FROM {schema}.{table} ORDER BY {key}) TO STDOUT"
            with conn.cursor().copy(query) as copy:
                pending = b""
                for chunk in copy:
                    lines = (pending + bytes(chunk)).split(b"\n")
                    pending = lines.pop()
                    for line in lines:
                        f = line.split(b"\t")
                        if table == "run_history_steps":
                            doc = _enc(_doc(f[3].replace(b"\\\\", b"\\")))
                            row = _step_row(_stamp(f[2]), f[0].decode(), f[1], doc)
                        elif table == "chat_items":
                            doc = _enc(_doc(f[4].replace(b"\\\\", b"\\")))
                            row = _item_row(_stamp(f[3]), f[1].decode(), doc, f[2], f[0].decode())
                        else:
                            at += 1
                            continue
                        if hashlib.sha256(canonical_bytes(row)).digest() != expected[at]:
                            differences += 1
                        at += 1
    return differences


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", type=Path, help="folder with workflows.sqlite and chatkit.sqlite")
    parser.add_argument("--from-schema", required=True, help="a schema a real import filled")
    parser.add_argument("--schema", default="bench_lean")
    args = parser.parse_args()
    dsn = os.environ["ORCHEO_POSTGRES_DSN"]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {args.schema} CASCADE")
        conn.execute(f"CREATE SCHEMA {args.schema}")
        for _, _, _, table, _, _ in TABLES:
            conn.execute(f"CREATE TABLE {args.schema}.{table} (LIKE {args.from_schema}.{table} INCLUDING ALL)")  # fmt: skip
        conn.execute(f"CREATE TABLE {args.schema}.orcheo_migration_ledger"
                     f" (LIKE {args.from_schema}.orcheo_migration_ledger INCLUDING ALL)")  # fmt: skip
        for child, parent, column in (
            ("run_history_steps", "run_histories", "execution_id"),
            ("chat_items", "chat_threads", "thread_id"),
        ):
            conn.execute(f"ALTER TABLE {args.schema}.{child} ADD FOREIGN KEY ({column})"
                         f" REFERENCES {args.schema}.{parent}")  # fmt: skip
    results: dict[str, tuple[float, float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="orcheo-lean-") as tmp:
        with measured("export+import", results):
            digests = export_import(args.data, Path(tmp) / "export", dsn, args.schema)
        with measured("verify", results):
            differences = verify(dsn, args.schema, digests)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {args.schema} CASCADE")
    for name, (wall, client, server) in results.items():
        print(
            f"{name:14s} wall {wall:6.1f} s  client CPU {client:6.1f} s  server CPU {server:6.1f} s"
        )
    cpu = sum(client + server for _, client, server in results.values())
    wall = sum(wall for wall, _, _ in results.values())
    print(f"lean checked migrate: {wall:.1f} s wall, {cpu:.1f} CPU-s, so at least {cpu / 2:.1f} s"
          f" on 2 cores; differences {differences}; slow literals {SLOW['literals']};"
          f" peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")  # fmt: skip


if __name__ == "__main__":
    main()
