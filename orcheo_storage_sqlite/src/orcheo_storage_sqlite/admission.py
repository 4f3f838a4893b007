"""Read admission on the event loop: while writes wait, only a few reads are in flight.

All threads of a process share one GIL. Under mixed load the event loop thread is the busy
one: it submits every read, resumes every reading task and runs what callers do with the
results, so with many reading tasks it holds the GIL nearly all the time and the writer
threads, which need it back after every SQLite statement, crawl (writes fell to a fifth of
their rate alone beside two readers per writer: ``benchmarks/sqlite_mixed_bench.py``).

So, per event loop: while any write submitted from that loop is pending, at most
:data:`READS_BESIDE_WRITES` read operations are in flight; the others wait here, parked,
in arrival order. With no write pending, reads are not bounded at this level. Reads are
delayed while writes go on, never refused; a read's waiting time counts in its latency.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

READS_BESIDE_WRITES = 4
"""Read operations in flight on one event loop while a write from it is pending."""


class _Gate:
    """The admission state of one event loop (used only from that loop's thread)."""

    def __init__(self) -> None:
        self.writes = 0
        self.reads = 0
        self.waiting: deque[asyncio.Future[None]] = deque()

    def _admit_waiting(self) -> None:
        while self.waiting and (not self.writes or self.reads < READS_BESIDE_WRITES):
            waiter = self.waiting.popleft()
            if waiter.done():  # cancelled while parked
                continue
            self.reads += 1  # handed over: the woken read is already counted
            waiter.set_result(None)

    async def read(self, start: Callable[[], Awaitable[T]]) -> T:
        if self.writes and (self.waiting or self.reads >= READS_BESIDE_WRITES):
            waiter = asyncio.get_running_loop().create_future()
            self.waiting.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    # admitted and cancelled in the same pass: give the place back
                    self.reads -= 1
                    self._admit_waiting()
                raise
        else:
            self.reads += 1
        try:
            return await start()
        finally:
            self.reads -= 1
            self._admit_waiting()

    async def write(self, start: Callable[[], Awaitable[T]]) -> T:
        self.writes += 1
        try:
            return await start()
        finally:
            self.writes -= 1
            self._admit_waiting()


_GATES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Gate] = weakref.WeakKeyDictionary()


def gate() -> _Gate:
    """The admission gate of the running event loop."""
    loop = asyncio.get_running_loop()
    found = _GATES.get(loop)
    if found is None:
        found = _GATES[loop] = _Gate()
    return found


__all__ = ["READS_BESIDE_WRITES", "gate"]
