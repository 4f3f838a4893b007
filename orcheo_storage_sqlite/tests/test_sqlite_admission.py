"""The event loop's read admission: reads are bounded only while writes are pending."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from orcheo_storage_sqlite.admission import READS_BESIDE_WRITES, gate


class Ops:
    """Operations that start when admitted and finish when the test says so."""

    def __init__(self) -> None:
        self.running: list[str] = []
        self.started: list[str] = []
        self.peak = 0
        self._release: dict[str, asyncio.Event] = {}

    def op(self, name: str) -> asyncio.Event:
        self._release[name] = asyncio.Event()
        return self._release[name]

    def start(self, name: str) -> Callable[[], Awaitable[str]]:
        async def run() -> str:
            self.running.append(name)
            self.started.append(name)
            self.peak = max(self.peak, sum(1 for r in self.running if r.startswith("r")))
            try:
                await self._release[name].wait()
            finally:
                self.running.remove(name)
            return name

        return run

    def finish(self, name: str) -> None:
        self._release[name].set()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def write_then_reads(
    extra: int,
) -> tuple[Ops, asyncio.Task[str], list[str], dict[str, asyncio.Task[str]]]:
    """A write held pending, then ``READS_BESIDE_WRITES + extra`` reads arriving behind it."""
    ops = Ops()
    ops.op("w")
    write = asyncio.create_task(gate().write(ops.start("w")))
    await settle()
    names = [f"r{i}" for i in range(READS_BESIDE_WRITES + extra)]
    for n in names:
        ops.op(n)
    reads = {n: asyncio.create_task(gate().read(ops.start(n))) for n in names}
    await settle()
    return ops, write, names, reads


def finish_all(ops: Ops, names: list[str]) -> None:
    ops.finish("w")
    for n in names:
        ops.finish(n)


async def test_reads_are_not_bounded_without_writes() -> None:
    ops = Ops()
    names = [f"r{i}" for i in range(READS_BESIDE_WRITES * 3)]
    for n in names:
        ops.op(n)
    tasks = [asyncio.create_task(gate().read(ops.start(n))) for n in names]
    await settle()
    assert sorted(ops.running) == sorted(names)
    for n in names:
        ops.finish(n)
    assert await asyncio.gather(*tasks) == names


async def test_reads_in_flight_are_bounded_while_a_write_is_pending() -> None:
    ops, write, names, reads = await write_then_reads(3)
    # the first arrivals run; the rest wait, in arrival order
    assert ops.started == ["w", *names[:READS_BESIDE_WRITES]]
    ops.finish(names[0])
    await settle()
    assert ops.started[-1] == names[READS_BESIDE_WRITES]
    assert ops.peak == READS_BESIDE_WRITES
    # the write finishes: every waiting read is admitted
    ops.finish("w")
    await settle()
    assert set(ops.started) == {"w", *names}
    for n in names:
        ops.finish(n)
    assert await write == "w"
    assert await asyncio.gather(*reads.values()) == names
    state = gate()
    assert (state.reads, state.writes, len(state.waiting)) == (0, 0, 0)


async def test_a_cancelled_waiting_read_gives_nothing_away() -> None:
    ops, write, names, reads = await write_then_reads(2)
    parked = names[READS_BESIDE_WRITES]
    reads[parked].cancel()
    with pytest.raises(asyncio.CancelledError):
        await reads[parked]
    ops.finish(names[0])
    await settle()
    # the place freed by r0 goes to the next read still waiting, not to the cancelled one
    assert parked not in ops.started
    assert ops.started[-1] == names[READS_BESIDE_WRITES + 1]
    finish_all(ops, names)
    await write
    await asyncio.gather(*(t for n, t in reads.items() if n != parked))
    state = gate()
    assert (state.reads, state.writes) == (0, 0)


async def test_a_read_admitted_and_cancelled_at_once_returns_its_place() -> None:
    ops, write, names, reads = await write_then_reads(2)
    first_waiting, second_waiting = names[READS_BESIDE_WRITES:]
    ops.finish(names[0])
    await asyncio.sleep(0)  # r0 completes and hands its place to the first waiting read...
    reads[first_waiting].cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await reads[first_waiting]
    await settle()
    assert first_waiting not in ops.started
    assert second_waiting in ops.started
    assert gate().reads == READS_BESIDE_WRITES
    finish_all(ops, names)
    await write
    await asyncio.gather(*(t for n, t in reads.items() if n != first_waiting))
    assert (gate().reads, gate().writes) == (0, 0)


async def test_a_failed_write_still_releases_the_reads() -> None:
    async def failing() -> None:
        await asyncio.sleep(0)
        raise RuntimeError("boom")

    ops = Ops()
    ops.op("w")
    blocker = asyncio.create_task(gate().write(ops.start("w")))
    await settle()
    names = [f"r{i}" for i in range(READS_BESIDE_WRITES + 1)]
    for n in names:
        ops.op(n)
    reads = [asyncio.create_task(gate().read(ops.start(n))) for n in names]
    with pytest.raises(RuntimeError):
        await gate().write(failing)
    ops.finish("w")
    await blocker
    await settle()
    assert set(ops.started) == {"w", *names}
    for n in names:
        ops.finish(n)
    await asyncio.gather(*reads)
    assert (gate().reads, gate().writes) == (0, 0)
