"""Running async backend code from synchronous Hypothesis tests and state machines."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from hypothesis import note
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test
from orcheo_storage.clock import Clock, ManualClock, use_clock
from orcheo_storage.settings import StorageSettings
from orcheo_storage.storage import Storage

T = TypeVar("T")

ProvisionStorage = Callable[[], AbstractAsyncContextManager[Storage]]
"""The type of the ``provision_storage`` fixture: each call gives a fresh namespace."""


SUITE_T0 = datetime(2031, 5, 6, 7, 8, 9, 123457, tzinfo=UTC)
"""Where every suite clock starts: an instant with microseconds that no real clock shows."""

TICKS = (
    timedelta(microseconds=1),
    timedelta(microseconds=999),
    timedelta(milliseconds=1),
    timedelta(seconds=1),
    timedelta(seconds=61),
    timedelta(hours=2),
)
"""The steps a state machine's clock takes: one microsecond (ties broken by a hair), below
and at a millisecond (truncation shows), and past every lease and dedupe window used."""


def run(coro: Coroutine[Any, Any, T], *, clock: Clock | None = None) -> T:
    """Run ``coro`` to completion on an event loop owned by this call.

    For the body of a synchronous Hypothesis test: each example provisions, uses and
    closes its storage inside one ``run`` call, so nothing outlives its loop. With
    ``clock``, every timestamp the backend takes inside comes from it (see
    :func:`orcheo_storage.clock.use_clock`).
    """
    with use_clock(clock) if clock is not None else nullcontext(), asyncio.Runner() as runner:
        return runner.run(coro)


class AsyncStateMachine(RuleBasedStateMachine):
    """A state machine that owns an event loop and a freshly provisioned Storage (under
    ``clock`` when given; :class:`ClockedStateMachine` gives it a frozen one).

    Subclasses write synchronous rules that call :meth:`call` with a coroutine. Run it
    with :func:`run_machine` from a test that requests ``provision_storage``. The
    namespace is entered in ``__init__`` and closed in :meth:`teardown`.

    When a rule draws one of the entities it created, draw from them in creation order
    (``list(self.model)``), never sorted by their random ids: Hypothesis replays a
    program with fresh ids, and a different order makes its data generation flaky.
    """

    def __init__(self, provision: ProvisionStorage, *, clock: Clock | None = None) -> None:
        super().__init__()
        self._runner = asyncio.Runner()
        self._scope = provision()
        try:
            # The runner copies the context on its first run: every later call sees the clock.
            with use_clock(clock) if clock is not None else nullcontext():
                self.storage: Storage = self._runner.run(self._scope.__aenter__())
        except BaseException:
            self._runner.close()
            raise

    def call(self, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable`` on the machine's loop and return its result."""

        async def wrapper() -> T:
            return await awaitable

        return self._runner.run(wrapper())

    def teardown(self) -> None:
        try:
            self._runner.run(self._scope.__aexit__(None, None, None))
        finally:
            self._runner.close()


class ClockedStateMachine(AsyncStateMachine):
    """An :class:`AsyncStateMachine` whose namespace runs under a frozen clock.

    The backend is provisioned and opened under :attr:`clock`, a
    :class:`~orcheo_storage.clock.ManualClock` that starts at :data:`SUITE_T0` and moves only
    when the ``tick`` rule runs (or a rule moves it), so a model can predict every timestamp
    exactly and writes between two ticks share one timestamp on purpose (ties).
    """

    def __init__(self, provision: ProvisionStorage) -> None:
        self.clock = ManualClock(SUITE_T0)
        super().__init__(provision, clock=self.clock)

    @rule(step=st.sampled_from(TICKS))
    def tick(self, step: timedelta) -> None:
        """Move the frozen clock (between two ticks every write shares one timestamp)."""
        note(f"clock -> {self.clock.advance(step).isoformat()}")


M = TypeVar("M", bound=AsyncStateMachine)


MODEL_STEPS = 25
"""Steps per program of the reference-model machines, at least: they have many rules, and
Hypothesis enables a random subset of them per program (swarm testing), so a program needs
room to reach each subsystem's operations in sequence (a revoke after a create, a list after
a filterable update)."""


def run_machine(
    machine: type[M], provision: ProvisionStorage, *, min_steps: int = 0, **kwargs: Any
) -> None:
    """Run ``machine`` as a test against fresh namespaces from ``provision``.

    Each Hypothesis program gets its own namespace. Extra keyword arguments are passed
    to the machine's constructor. Example count and step count come from the active
    profile; ``min_steps`` raises the step count (never lowers it).
    """

    def factory() -> M:
        return machine(provision, **kwargs)

    current = hypothesis_settings()  # the active profile
    steps = max(current.stateful_step_count, min_steps)
    # Hypothesis annotates the factory as a class; any zero-argument callable works.
    run_state_machine_as_test(
        cast(Any, factory), settings=hypothesis_settings(current, stateful_step_count=steps)
    )


# --- handing settings to other processes ---------------------------------------------------------


def settings_payload(settings: StorageSettings) -> dict[str, Any]:
    """``settings`` as plain JSON data, secrets included, for a child process.

    The payload holds secret values in clear: pass it through a pipe or argv of a
    process you start, never log it.
    """
    data = settings.model_dump(mode="json")
    for field in ("postgres_dsn", "vault_encryption_key"):
        secret = getattr(settings, field)
        data[field] = None if secret is None else secret.get_secret_value()
    return data


def settings_from_payload(payload: dict[str, Any]) -> StorageSettings:
    """Inverse of :func:`settings_payload`."""
    return StorageSettings(**payload)
