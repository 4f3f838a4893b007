"""Translation of psycopg and pool errors into the core's typed errors.

Every call into psycopg goes through :func:`translated`, so a raw driver exception never
reaches a caller. Messages are built from the exception class and SQLSTATE only: driver
messages of connection errors can echo host and user, and we never risk echoing a DSN.
"""

from __future__ import annotations

from types import TracebackType

import psycopg
import psycopg_pool
from orcheo_storage.errors import (
    BackendBusyError,
    BackendUnavailableError,
    DuplicateError,
    StorageError,
    ValidationError,
)
from psycopg import errors as pg


class UniqueViolation(DuplicateError):
    """A unique constraint fired; ``constraint`` names it so stores can map it precisely."""

    def __init__(self, constraint: str | None, table: str | None) -> None:
        self.constraint = constraint
        super().__init__(table or "row", constraint or "unique constraint")


class ForeignKeyViolation(StorageError):
    """A referenced row is missing; stores map it to the right not-found error."""

    def __init__(self, constraint: str | None) -> None:
        self.constraint = constraint
        super().__init__(f"referenced row missing ({constraint or 'foreign key'})")


# SQLSTATE classes that mean "try again later" rather than "your request is wrong".
_BUSY = (
    pg.SerializationFailure,
    pg.DeadlockDetected,
    pg.LockNotAvailable,
    pg.QueryCanceled,
    pg.TooManyConnections,
)


def translate(exc: BaseException) -> StorageError:
    """The typed error for a psycopg / psycopg_pool exception (``exc`` is chained by callers)."""
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, psycopg_pool.TooManyRequests):
        return BackendBusyError("PostgreSQL pool wait queue is full")
    if isinstance(exc, psycopg_pool.PoolTimeout):
        return BackendBusyError("timed out waiting for a PostgreSQL connection from the pool")
    if isinstance(exc, psycopg_pool.PoolClosed):
        return BackendUnavailableError("the PostgreSQL pool is closed")
    if isinstance(exc, pg.UniqueViolation):
        return UniqueViolation(exc.diag.constraint_name, exc.diag.table_name)
    if isinstance(exc, pg.ForeignKeyViolation):
        return ForeignKeyViolation(exc.diag.constraint_name)
    if isinstance(exc, UnicodeEncodeError):
        return ValidationError("lone surrogates are not allowed")
    if isinstance(exc, pg.DataError) and exc.sqlstate is None and "NUL" in str(exc):
        # Raised by psycopg before sending: a text parameter holds a NUL character.
        return ValidationError("NUL characters are not allowed")
    if isinstance(exc, _BUSY):
        return BackendBusyError(f"PostgreSQL is busy ({type(exc).__name__}, {exc.sqlstate})")
    if isinstance(exc, pg.DataError | pg.IntegrityError):
        return ValidationError(
            f"PostgreSQL rejected the data ({type(exc).__name__}, {exc.sqlstate})"
        )
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        # Connection refused/lost, admin shutdown, terminated backend: retryable.
        state = f", {exc.sqlstate}" if exc.sqlstate else ""
        return BackendUnavailableError(f"PostgreSQL is unavailable ({type(exc).__name__}{state})")
    if isinstance(exc, psycopg.Error):
        state = f", {exc.sqlstate}" if exc.sqlstate else ""
        return StorageError(f"PostgreSQL error ({type(exc).__name__}{state})")
    raise exc


class _Translated:
    """The context manager of :func:`translated` (a class: entered on every operation, it
    costs less than a generator-based one)."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if isinstance(exc, psycopg.Error | UnicodeEncodeError):
            raise translate(exc) from None


_TRANSLATED = _Translated()


def translated() -> _Translated:
    """Run a block, turning every psycopg / pool error into the core's typed error."""
    return _TRANSLATED
