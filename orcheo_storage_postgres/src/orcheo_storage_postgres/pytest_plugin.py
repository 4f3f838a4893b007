"""pytest plugin: the ``pg_dsn`` and ``pgbouncer`` fixtures for this project's tests needing PostgreSQL.

Loaded with ``-p orcheo_storage_postgres.pytest_plugin`` by the workspace's pytest
configuration (not as a ``pytest11`` entry point, so users' pytest sessions do not get
it). Loading it at start-up also makes sure the real ``orcheo_storage_postgres`` package is
imported before test modules under ``orcheo_storage_postgres/tests`` (whose folder shares
the package's name) are collected in ``--import-mode=importlib``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orcheo_storage_postgres.testing import NoPostgres, must_run, server_dsn
from orcheo_storage_postgres.testing_pgbouncer import NoPgBouncer, PgBouncer
from orcheo_storage_postgres.testing_pgbouncer import start as start_pgbouncer


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    """DSN of a real PostgreSQL server (see :func:`orcheo_storage_postgres.testing.server_dsn`).

    Skips with instructions when none is available, except in CI (``CI=true``), where
    it fails.
    """
    try:
        return server_dsn()
    except NoPostgres as exc:
        if must_run():
            pytest.fail(str(exc))
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def pgbouncer(pg_dsn: str) -> Iterator[PgBouncer]:
    """A PgBouncer in transaction mode in front of ``pg_dsn`` for the session (see
    :mod:`orcheo_storage_postgres.testing_pgbouncer`), stopped by its pid at the end.

    Skips when PgBouncer is not installed, except in CI (``CI=true``), where it fails.
    """
    try:
        bouncer = start_pgbouncer(pg_dsn)
    except NoPgBouncer as exc:
        if must_run():
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    try:
        yield bouncer
    finally:
        bouncer.stop()
