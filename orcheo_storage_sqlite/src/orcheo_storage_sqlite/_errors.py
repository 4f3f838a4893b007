"""Translation of ``sqlite3`` exceptions into :mod:`orcheo_storage.errors`.

A raw driver exception never leaves this package: every job that runs on a
connection passes its exception through :func:`translate`.
"""

from __future__ import annotations

import sqlite3

from orcheo_storage.errors import (
    BackendBusyError,
    BackendUnavailableError,
    ConfigurationError,
    ConflictError,
    StorageError,
    ValidationError,
)

# Primary result codes (the low byte of the extended code).
SQLITE_BUSY = 5
SQLITE_LOCKED = 6


def is_busy(exc: BaseException) -> bool:
    """Whether ``exc`` is a transient lock error ("database is locked"/"busy")."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return (code & 0xFF) in (SQLITE_BUSY, SQLITE_LOCKED)
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def translate(exc: BaseException) -> BaseException:
    """Return the storage error that stands for ``exc`` (``exc`` itself if it is one already).

    Messages never contain the database path or bound values, only the kind of failure.
    """
    if isinstance(exc, StorageError | ValueError | TypeError | LookupError):
        return exc
    if not isinstance(exc, sqlite3.Error):
        return exc
    if is_busy(exc):
        return BackendBusyError("the SQLite database stayed locked past the busy timeout")
    if isinstance(exc, sqlite3.IntegrityError):
        return ConflictError(f"constraint violated: {_constraint(exc)}")
    text = str(exc).lower()
    if isinstance(exc, sqlite3.OperationalError) and "no such table" in text:
        return ConfigurationError(
            "the SQLite schema is not up to date: run `orcheo-storage migrate-schema`"
        )
    if isinstance(exc, sqlite3.DataError):
        return ValidationError(f"value rejected by SQLite: {exc}")
    if isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError):
        return BackendUnavailableError(f"SQLite error: {exc.__class__.__name__}: {first_line(exc)}")
    return StorageError(f"SQLite error: {exc.__class__.__name__}")


def _constraint(exc: sqlite3.IntegrityError) -> str:
    # The message names the constraint ("UNIQUE constraint failed: t.c"), never a value.
    return first_line(exc)


def first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else exc.__class__.__name__
