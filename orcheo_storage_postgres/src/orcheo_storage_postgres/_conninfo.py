"""The DSN before the driver sees it, the first connection at start-up, and what is logged.

* :func:`checked_dsn` refuses a malformed DSN (and schema name) with a
  :class:`ConfigurationError` naming the variable, never quoting the DSN: libpq echoes the
  offending piece of a malformed DSN, which can be the password.
* :func:`connect` opens a connection with a bounded timeout and reports failure at once as
  :class:`ConfigurationError` (authentication, unknown database or role, TLS refused) or
  :class:`BackendUnavailableError` (refused, unreachable, timed out), with libpq's reason and
  every password of the DSN masked. The raised error has no ``__cause__`` or
  ``__context__``: the driver's exception (and the text it holds) goes no further.
* Records of the ``psycopg`` and ``psycopg.pool`` loggers pass a filter that masks the
  passwords of every DSN this process connected with (the pool logs failed attempts).
"""

from __future__ import annotations

import logging
import math
import traceback
from functools import cache
from typing import Any

import psycopg
from orcheo_storage.dsn import DsnError, check_dsn, dsn_secrets, scrub
from orcheo_storage.errors import BackendUnavailableError, ConfigurationError, StorageError
from orcheo_storage.settings import StorageSettings, check_schema_name
from psycopg.conninfo import conninfo_to_dict

STARTUP_TIMEOUT = 5.0
"""Seconds the first connection at start-up may take (unless the DSN sets connect_timeout)."""

# libpq's words for a request that will not succeed by waiting: wrong settings.
_CONFIGURATION_FAILURES = (
    "authentication failed",
    "password",
    "does not exist",
    "no pg_hba.conf entry",
    "not permitted to log in",
    "ssl",
    "certificate",
    "invalid connection option",
    "invalid integer value",
    "invalid sslmode",
    "unsupported startup parameter",
)
_LOGGERS = ("psycopg", "psycopg.pool", "psycopg.pq")


@cache
def libpq_keywords() -> frozenset[str]:
    """The connection options this libpq knows."""
    return frozenset(option.keyword.decode() for option in psycopg.pq.Conninfo.get_defaults())


def checked_dsn(settings: StorageSettings) -> str:
    """The DSN of ``settings`` once it is known to be well formed.

    Raises:
        ConfigurationError: no DSN, a malformed one (not quoted in the message), or a
            schema name that needs quoting or is reserved.
    """
    dsn = settings.dsn()
    problem: str | None = None
    try:
        check_dsn(dsn, keywords=libpq_keywords())
    except DsnError as exc:
        problem = f"ORCHEO_POSTGRES_DSN: the DSN {exc}"
    if problem is None and settings.postgres_schema is not None:
        try:
            check_schema_name(settings.postgres_schema)
        except ValueError as exc:
            problem = f"ORCHEO_POSTGRES_SCHEMA: {exc}"
    if problem is not None:
        raise ConfigurationError(problem)
    _FILTER.add(dsn)
    return dsn


def startup_timeout(dsn: str, settings: StorageSettings) -> int:
    """Whole seconds for the first connection: the DSN's connect_timeout or
    :data:`STARTUP_TIMEOUT`, at most the pool timeout, at least libpq's minimum of 2."""
    limit = STARTUP_TIMEOUT
    value = conninfo_to_dict(dsn).get("connect_timeout")
    if value is not None and str(value).strip().isdigit() and int(str(value)) > 0:
        limit = float(str(value))
    return max(2, math.ceil(min(limit, settings.postgres_pool_timeout)))


async def connect(settings: StorageSettings, **kwargs: Any) -> psycopg.AsyncConnection[Any]:
    """A new connection for ``settings``, failing within the start-up timeout.

    Raises:
        ConfigurationError: the DSN or schema is malformed, or the server refused the
            credentials, database or TLS settings.
        BackendUnavailableError: the server could not be reached in time.
    """
    dsn = checked_dsn(settings)
    timeout = startup_timeout(dsn, settings)
    error: StorageError
    try:
        return await psycopg.AsyncConnection.connect(dsn, connect_timeout=timeout, **kwargs)
    except psycopg.Error as exc:
        error = connection_error(exc, dsn)
    raise error


def connection_error(exc: BaseException, dsn: str) -> StorageError:
    """The typed error for a failed connection attempt, libpq's reason with passwords masked."""
    reason = scrub(" ".join(str(exc).split()), dsn).removeprefix("connection failed: ")
    lowered = reason.lower()
    if isinstance(exc, psycopg.ProgrammingError) or any(
        word in lowered for word in _CONFIGURATION_FAILURES
    ):
        return ConfigurationError(
            f"cannot connect to PostgreSQL (check ORCHEO_POSTGRES_DSN): {reason}"
        )
    return BackendUnavailableError(f"cannot connect to PostgreSQL: {reason}")


class _SecretFilter(logging.Filter):
    """Masks the passwords of known DSNs in log records (message and arguments)."""

    def __init__(self) -> None:
        super().__init__("orcheo-dsn-secrets")
        self._dsns: set[str] = set()

    def add(self, dsn: str) -> None:
        if dsn not in self._dsns and dsn_secrets(dsn):
            self._dsns.add(dsn)
            for name in _LOGGERS:
                logger = logging.getLogger(name)
                if self not in logger.filters:
                    logger.addFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._dsns:
            return True
        message = record.getMessage()
        cleaned = self._scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            text = "".join(traceback.format_exception(*record.exc_info))
            scrubbed = self._scrub(text)
            if scrubbed != text:  # the traceback repeats the message: keep the masked text
                record.exc_info, record.exc_text = None, scrubbed.rstrip("\n")
        return True

    def _scrub(self, text: str) -> str:
        for dsn in self._dsns:
            text = scrub(text, dsn)
        return text


_FILTER = _SecretFilter()
