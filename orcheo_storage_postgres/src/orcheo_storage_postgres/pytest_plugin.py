"""pytest plugin: the ``pg_dsn`` fixture for this project's tests needing PostgreSQL.

Loaded with ``-p orcheo_storage_postgres.pytest_plugin`` by the workspace's pytest
configuration (not as a ``pytest11`` entry point, so users' pytest sessions do not get
it). Loading it at start-up also makes sure the real ``orcheo_storage_postgres`` package is
imported before test modules under ``orcheo_storage_postgres/tests`` (whose folder shares
the package's name) are collected in ``--import-mode=importlib``.
"""

from __future__ import annotations

import pytest

from orcheo_storage_postgres.testing import NoPostgres, must_run, server_dsn


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
