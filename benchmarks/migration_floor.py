"""Benchmark (by hand, not CI): the least work any migrate must do here, with plain drivers.

``migrate run`` is compared with pgloader. This script answers a different question:
how long the unavoidable parts of a checked migration take on this machine when no
project code runs at all, and how much CPU pgloader itself spends. Each part is timed on
its own, with the CPU of the client and of the PostgreSQL server processes:

- ``read``: every row of today's SQLite files read with ``sqlite3``, every JSON text
  parsed once with orjson (a bad row must be found) and every row hashed once (BLAKE2b;
  a migration must know what it read).
- ``load``: the exact COPY text of the target tables (taken from a schema that a real
  import filled, ``--from-schema``) copied into a fresh copy of those tables (same
  columns, JSONB, lz4, generated search column, indexes; foreign keys left out, so this
  is lower than a real load), one transaction per table, no client work.
- ``read-back``: every target row read back in key order with ``COPY ... TO STDOUT``, its
  JSON documents parsed once with orjson and hashed (a verify must at least do this).
- ``pgloader``: Debian's pgloader loading the same SQLite files (its own process CPU plus
  the PostgreSQL server's).

Server CPU is the postmaster's reaped-children CPU (``cutime + cstime``) plus the live
backends', read from ``/proc`` before and after, so it needs this machine's PostgreSQL
and root. Usage::

    ORCHEO_POSTGRES_DSN=postgresql://postgres@127.0.0.1:5432/postgres \\
      python benchmarks/migration_floor.py /tmp/mig/big --from-schema prof
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import psycopg

TICK = os.sysconf("SC_CLK_TCK")
TABLES = ("run_histories", "run_history_steps", "chat_threads", "chat_items")  # parents first
JSON_TYPES = ("jsonb", "json")


def _postgres_cpu() -> float:
    """CPU seconds of every PostgreSQL process, reaped backends included."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                head, tail = stat.read().rsplit(")", 1)
        except OSError:
            continue
        if not head.endswith("(postgres"):
            continue
        fields = tail.split()
        total += sum(int(v) for v in fields[11:13]) / TICK  # utime, stime
        if fields[1] == "1":  # the postmaster: its reaped children too
            total += sum(int(v) for v in fields[13:15]) / TICK  # cutime, cstime
    return total


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime


@contextmanager
def measured(name: str, results: dict[str, tuple[float, float, float]]) -> Iterator[None]:
    wall, own, server = time.perf_counter(), _own_cpu(), _postgres_cpu()
    yield
    results[name] = (
        time.perf_counter() - wall,
        _own_cpu() - own,
        _postgres_cpu() - server,
    )


def read_sqlite(data: Path) -> int:
    rows = 0
    for name in ("workflows.sqlite", "chatkit.sqlite"):
        db = sqlite3.connect(f"file:{data / name}?mode=ro", uri=True)
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            cursor = db.execute(f'SELECT * FROM "{table}"')
            while batch := cursor.fetchmany(2000):
                for row in batch:
                    digest = hashlib.blake2b(digest_size=16)
                    for value in row:
                        if isinstance(value, str):
                            raw = value.encode()
                            if raw[:1] in (b"{", b"["):
                                orjson.loads(raw)
                            digest.update(raw)
                    digest.digest()
                rows += len(batch)
        db.close()
    return rows


def _json_columns(conn: psycopg.Connection, schema: str, table: str) -> list[int]:
    """Positions (in COPY order: generated columns left out) of the JSON columns."""
    rows = conn.execute(
        "SELECT data_type FROM information_schema.columns WHERE table_schema = %s"
        " AND table_name = %s AND is_generated = 'NEVER' ORDER BY ordinal_position",
        (schema, table),
    ).fetchall()
    return [i for i, (kind,) in enumerate(rows) if kind in JSON_TYPES]


def _key(conn: psycopg.Connection, schema: str, table: str) -> str:
    row = conn.execute(
        "SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.n) FROM pg_index i"
        " CROSS JOIN unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)"
        " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
        " WHERE i.indrelid = %s::regclass AND i.indisprimary",
        (f"{schema}.{table}",),
    ).fetchone()
    assert row is not None
    assert row[0]
    return str(row[0])


def dump(dsn: str, schema: str, folder: Path) -> None:
    with psycopg.connect(dsn) as conn:
        for table in TABLES:
            with (
                (folder / table).open("wb") as out,
                conn.cursor().copy(f"COPY {schema}.{table} TO STDOUT") as copy,
            ):
                for chunk in copy:
                    out.write(chunk)


def create(dsn: str, source: str, schema: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.execute(f"CREATE SCHEMA {schema}")
        for table in TABLES:
            conn.execute(f"CREATE TABLE {schema}.{table} (LIKE {source}.{table} INCLUDING ALL)")


def load(dsn: str, schema: str, folder: Path) -> None:
    with psycopg.connect(dsn) as conn:
        for table in TABLES:
            columns = conn.execute(
                "SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position)"
                " FROM information_schema.columns WHERE table_schema = %s"
                " AND table_name = %s AND is_generated = 'NEVER'",
                (schema, table),
            ).fetchone()
            assert columns is not None
            with (
                (folder / table).open("rb") as source,
                conn.cursor().copy(f"COPY {schema}.{table} ({columns[0]}) FROM STDIN") as copy,
            ):
                while chunk := source.read(1 << 20):
                    copy.write(chunk)
            conn.commit()


def read_back(dsn: str, schema: str, check: bool) -> int:
    rows = 0
    with psycopg.connect(dsn) as conn:
        for table in TABLES:
            positions = _json_columns(conn, schema, table)
            key = _key(conn, schema, table)
            with conn.cursor().copy(
                f"COPY (SELECT * FROM {schema}.{table} ORDER BY {key}) TO STDOUT"
            ) as copy:
                pending = b""
                for chunk in copy:
                    if not check:
                        continue
                    lines = (pending + bytes(chunk)).split(b"\n")
                    pending = lines.pop()
                    for line in lines:
                        fields = line.split(b"\t")
                        for at in positions:
                            if fields[at] != b"\\N":  # COPY's NULL
                                # COPY text escapes backslashes; read the JSON as stored.
                                orjson.loads(fields[at].replace(b"\\\\", b"\\"))
                        hashlib.blake2b(line, digest_size=16).digest()
                        rows += 1
    return rows


def pgloader(data: Path, db: str, work: Path) -> None:
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qAtc"]
    subprocess.run([*psql, f"DROP DATABASE IF EXISTS {db}"], check=True)
    subprocess.run([*psql, f"CREATE DATABASE {db}"], check=True)
    for name in ("workflows.sqlite", "chatkit.sqlite"):
        command = work / f"{name}.load"
        command.write_text(
            f"LOAD DATABASE FROM sqlite://{data / name}\n"
            f"INTO postgresql://postgres@127.0.0.1:5432/{db}\n"
            "WITH include drop, create tables, create indexes, reset sequences,\n"
            "     batch rows = 1000, prefetch rows = 1000;\n"
        )
        subprocess.run(["pgloader", str(command)], check=True, capture_output=True)
    subprocess.run([*psql, f"DROP DATABASE IF EXISTS {db}"], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", type=Path, help="folder with workflows.sqlite and chatkit.sqlite")
    parser.add_argument("--from-schema", required=True, help="a schema a real import filled")
    parser.add_argument("--schema", default="bench_floor")
    parser.add_argument("--skip-pgloader", action="store_true")
    args = parser.parse_args()
    dsn = os.environ["ORCHEO_POSTGRES_DSN"]
    results: dict[str, tuple[float, float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="orcheo-floor-") as tmp:
        work = Path(tmp)
        dump(dsn, args.from_schema, work)
        create(dsn, args.from_schema, args.schema)
        steps: list[tuple[str, Callable[[], object]]] = [
            ("read", lambda: read_sqlite(args.data)),
            ("load", lambda: load(dsn, args.schema, work)),
            ("read-back (server only)", lambda: read_back(dsn, args.schema, check=False)),
            ("read-back + parse + hash", lambda: read_back(dsn, args.schema, check=True)),
        ]
        if not args.skip_pgloader:
            steps.append(("pgloader", lambda: pgloader(args.data, "bench_floor_pgloader", work)))
        for name, step in steps:
            with measured(name, results):
                step()
            print(f"{name:26s} wall {results[name][0]:6.1f} s  client CPU "
                  f"{results[name][1]:6.1f} s  server CPU {results[name][2]:6.1f} s", flush=True)  # fmt: skip
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {args.schema} CASCADE")
    floor = [results[n] for n in ("read", "load", "read-back + parse + hash")]
    cpu = sum(client + server for _, client, server in floor)
    print(f"floor of a checked migrate: {cpu:.1f} CPU-s, so at least {cpu / 2:.1f} s on 2 cores")
    if "pgloader" in results:
        wall, client, server = results["pgloader"]
        print(f"pgloader: {wall:.1f} s wall, {client + server:.1f} CPU-s")


if __name__ == "__main__":
    main()
