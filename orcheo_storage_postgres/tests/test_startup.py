"""Start-up on PostgreSQL: malformed DSNs never reach the driver, failures are typed and fast,
and no password shows anywhere (message, chained exceptions, logs) - issue 13."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
from orcheo_storage.errors import BackendUnavailableError, ConfigurationError, StorageError
from orcheo_storage.settings import StorageSettings
from orcheo_storage_postgres.plugin import PostgresBackend
from orcheo_storage_postgres.session import PostgresSession
from orcheo_storage_postgres.testing_pgbouncer import PLAIN_ROLE, SCHEMA_ROLE, PgBouncer
from pydantic import SecretStr

from .conftest import make_settings

CANARY = "canary-Pw-7731"

# Every shape that made libpq echo the password (in exception text, in the exception chain,
# or through psycopg_pool's warnings). The hosts are real so that only the shape is wrong.
MALFORMED_DSNS = {
    "driver suffix in the scheme": f"postgresql+psycopg://postgres:{CANARY}@127.0.0.1:5432/postgres",
    "another database's scheme": f"mysql://postgres:{CANARY}@127.0.0.1:5432/postgres",
    "bad percent escape": f"postgresql://postgres:{CANARY}%zz@127.0.0.1:5432/postgres",
    "percent-encoded NUL": f"postgresql://postgres:{CANARY}%00@127.0.0.1:5432/postgres",
    "unescaped @ in the password": f"postgresql://postgres:{CANARY}@x@127.0.0.1:5432/postgres",
    "unescaped / in the password": f"postgresql://postgres:{CANARY}/x@127.0.0.1:5432/postgres",
    "bad escape in a query password": f"postgresql://postgres@127.0.0.1:5432/postgres?password={CANARY}%g",
    "unknown query option": f"postgresql://postgres:{CANARY}@127.0.0.1:5432/postgres?passwrd=x",
    "unterminated IPv6 address": f"postgresql://postgres:{CANARY}@[::1:5432/postgres",
    "no scheme, not key=value": f"postgres:{CANARY}@127.0.0.1:5432/postgres",
    "unquoted space in a password": f"host=127.0.0.1 user=postgres password=x {CANARY} dbname=postgres",
    "unknown key=value option": f"host=127.0.0.1 user=postgres password=x {CANARY}=y dbname=postgres",
}


def chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        todo += [item.__cause__, item.__context__]


def assert_no_canary(exc: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    for item in chain(exc):
        assert CANARY not in str(item)
        assert CANARY not in repr(item)
        assert all(CANARY not in repr(arg) for arg in item.args)
    assert CANARY not in "".join(traceback.format_exception(exc))
    for record in caplog.records:
        assert CANARY not in record.getMessage()
        assert CANARY not in (record.exc_text or "")
        if record.exc_info and record.exc_info[1] is not None:
            assert CANARY not in "".join(traceback.format_exception(record.exc_info[1]))


def with_dsn(pg_dsn: str, dsn: str, **overrides: object) -> StorageSettings:
    # model_copy does not validate: what a backend gets from code that builds settings itself
    return make_settings(pg_dsn, **overrides).model_copy(update={"postgres_dsn": SecretStr(dsn)})


@pytest.mark.parametrize("auto_migrate", [True, False])
@pytest.mark.parametrize("dsn", MALFORMED_DSNS.values(), ids=MALFORMED_DSNS.keys())
async def test_a_malformed_dsn_never_reaches_the_driver(
    pg_dsn: str, caplog: pytest.LogCaptureFixture, dsn: str, auto_migrate: bool
) -> None:
    caplog.set_level(logging.DEBUG)
    started = time.monotonic()
    with pytest.raises(ConfigurationError) as info:
        await PostgresSession.open(with_dsn(pg_dsn, dsn, auto_migrate=auto_migrate))
    assert time.monotonic() - started < 2
    assert "ORCHEO_POSTGRES_DSN" in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__context__ is None
    assert_no_canary(info.value, caplog)


@pytest.mark.parametrize("schema", ["TenantA", "pg_temp", "information_schema", "bad-name"])
async def test_a_bad_schema_name_is_refused_at_open(pg_dsn: str, schema: str) -> None:
    settings = make_settings(pg_dsn).model_copy(update={"postgres_schema": schema})
    with pytest.raises(ConfigurationError, match="ORCHEO_POSTGRES_SCHEMA"):
        await PostgresSession.open(settings)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers (a hung or filtered server)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


def refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again: nothing listens there


@pytest.mark.parametrize("auto_migrate", [True, False])
async def test_an_unreachable_server_fails_fast_and_typed(
    pg_dsn: str, caplog: pytest.LogCaptureFixture, silent_server: int, auto_migrate: bool
) -> None:
    """Default pool timeout (30 s): the first attempt still gives up within about 5 s."""
    caplog.set_level(logging.DEBUG)
    for port, limit in ((refused_port(), 2.0), (silent_server, 7.0)):
        dsn = f"postgresql://postgres:{CANARY}@127.0.0.1:{port}/postgres"
        settings = with_dsn(pg_dsn, dsn, auto_migrate=auto_migrate, postgres_pool_timeout=30.0)
        started = time.monotonic()
        with pytest.raises(BackendUnavailableError) as info:
            await PostgresSession.open(settings)
        elapsed = time.monotonic() - started
        assert elapsed < limit, f"port {port}: {elapsed:.1f}s"
        assert type(info.value) is BackendUnavailableError  # not BackendBusyError
        assert "cannot connect to PostgreSQL" in str(info.value)
        assert info.value.__cause__ is None
        assert info.value.__context__ is None
        assert_no_canary(info.value, caplog)


async def test_a_wrong_password_is_a_configuration_error_at_once(
    pg_dsn: str, pgbouncer: PgBouncer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    dsn = pgbouncer.dsn(PLAIN_ROLE).replace(pgbouncer.password, CANARY)
    for auto_migrate in (True, False):
        started = time.monotonic()
        with pytest.raises(ConfigurationError) as info:
            await PostgresSession.open(with_dsn(pg_dsn, dsn, auto_migrate=auto_migrate))
        assert time.monotonic() - started < 3
        assert "authentication failed" in str(info.value)
        assert_no_canary(info.value, caplog)


async def test_an_unknown_database_is_a_configuration_error(pg_dsn: str) -> None:
    dsn = pg_dsn.rsplit("/", 1)[0] + "/orcheo_no_such_database"
    with pytest.raises(ConfigurationError, match="does not exist"):
        await PostgresSession.open(with_dsn(pg_dsn, dsn, auto_migrate=False))


async def test_pool_log_records_never_show_the_password(
    pg_dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    """psycopg_pool logs failed attempts with libpq's message: such records are masked."""
    from orcheo_storage_postgres._conninfo import checked_dsn

    caplog.set_level(logging.DEBUG)
    dsn = f"postgresql://postgres:{CANARY}@127.0.0.1:5432/postgres"
    checked_dsn(with_dsn(pg_dsn, dsn))  # registers the DSN's secrets with the log filter
    logger = logging.getLogger("psycopg.pool")
    logger.warning("error connecting in %r: %s", "pool-1", f"bad password {CANARY}")
    try:
        raise ValueError(f"conninfo {dsn}")
    except ValueError:
        logging.getLogger("psycopg").exception("while connecting")
    assert len(caplog.records) == 2
    assert "***" in caplog.records[0].getMessage()
    for record in caplog.records:
        assert CANARY not in record.getMessage()
        assert CANARY not in (record.exc_text or "")
        assert record.exc_info is None or CANARY not in str(record.exc_info[1])
    # Masked either as a whole (a DSN seen before: ``<dsn>``) or password by password.
    assert any(mark in (caplog.records[1].exc_text or "") for mark in ("***", "<dsn>"))


async def test_repr_and_errors_of_an_open_session_hide_the_password(
    pgbouncer: PgBouncer, pg_dsn: str, tmp_path: Path
) -> None:
    async with PostgresBackend().provision(make_settings(pg_dsn), tmp_path) as provisioned:
        settings = with_dsn(
            pg_dsn,
            pgbouncer.dsn(SCHEMA_ROLE),
            postgres_prepare_threshold=None,
            postgres_schema=provisioned.postgres_schema,
        )
        session = await PostgresSession.open(settings)
        try:
            assert pgbouncer.password not in repr(session)
            assert pgbouncer.password not in repr(session.db)
            with pytest.raises(StorageError) as info:
                await session.db.one("SELECT * FROM orcheo_no_such_table")
            assert pgbouncer.password not in "".join(traceback.format_exception(info.value))
        finally:
            await session.close()


def test_blocking_start_up_does_not_hang_the_loop(pg_dsn: str, silent_server: int) -> None:
    """The bounded attempt is awaited: other tasks keep running meanwhile."""

    async def main() -> int:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        ticker = asyncio.create_task(tick())
        dsn = f"postgresql://postgres@127.0.0.1:{silent_server}/postgres"
        with pytest.raises(BackendUnavailableError):
            await PostgresSession.open(with_dsn(pg_dsn, dsn, postgres_pool_timeout=2.0))
        ticker.cancel()
        return ticks

    assert asyncio.run(main()) > 10
