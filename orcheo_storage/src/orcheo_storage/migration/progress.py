"""Progress reporting for migration steps: a small protocol and a plain-text reporter.

The command line plugs in a rich progress bar on a terminal; everything else (logs,
CI, tests) gets :class:`LogReporter`, one line per table and every few seconds.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

logger = logging.getLogger("orcheo_storage.migration")


class Reporter(Protocol):
    """Receives progress of one step (``export``, ``import`` or ``verify``)."""

    def start(self, step: str, table: str, total_rows: int) -> None: ...

    def advance(self, step: str, table: str, rows: int) -> None: ...

    def finish(self, step: str, table: str) -> None: ...

    def note(self, message: str) -> None: ...


class NullReporter:
    """Reports nothing."""

    def start(self, step: str, table: str, total_rows: int) -> None:
        return None

    def advance(self, step: str, table: str, rows: int) -> None:
        return None

    def finish(self, step: str, table: str) -> None:
        return None

    def note(self, message: str) -> None:
        return None


class LogReporter:
    """Plain log lines: start and end of each table, and a line every ``interval`` seconds."""

    def __init__(self, log: logging.Logger = logger, interval: float = 5.0) -> None:
        self._log = log
        self._interval = interval
        self._state: dict[tuple[str, str], tuple[int, int, float, float]] = {}

    def start(self, step: str, table: str, total_rows: int) -> None:
        now = time.monotonic()
        self._state[(step, table)] = (total_rows, 0, now, now)
        self._log.info("%s %s: %d rows", step, table, total_rows)

    def advance(self, step: str, table: str, rows: int) -> None:
        total, done, started, last = self._state.get((step, table), (0, 0, time.monotonic(), 0.0))
        done += rows
        now = time.monotonic()
        if now - last >= self._interval:
            rate = done / max(now - started, 1e-9)
            eta = (total - done) / rate if rate and total > done else 0.0
            self._log.info(
                "%s %s: %d/%d rows, %.0f rows/s, eta %.0fs", step, table, done, total, rate, eta
            )
            last = now
        self._state[(step, table)] = (total, done, started, last)

    def finish(self, step: str, table: str) -> None:
        _total, done, started, _ = self._state.pop((step, table), (0, 0, time.monotonic(), 0.0))
        elapsed = time.monotonic() - started
        self._log.info(
            "%s %s: done, %d rows in %.1fs (%.0f rows/s)",
            step,
            table,
            done,
            elapsed,
            done / max(elapsed, 1e-9),
        )

    def note(self, message: str) -> None:
        self._log.info("%s", message)
