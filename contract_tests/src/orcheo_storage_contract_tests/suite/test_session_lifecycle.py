"""Contract: a closed storage refuses work with a typed error, through stores kept from it.

An application may keep a store object (``storage.workflows``), or the storage itself,
longer than the ``open_storage`` block that gave it. Once the block has closed the backend
session, every call through such a store, or a store asked of the closed storage, is a :class:`~orcheo_storage.errors.BackendUnavailableError`
whose message says the session is closed: never a result from records the session has
dropped, never a raw driver or attribute error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import pytest
from orcheo_storage.errors import BackendUnavailableError
from orcheo_storage.models.chat import ChatContext
from orcheo_storage.storage import Storage

from orcheo_storage_contract_tests._runner import ProvisionStorage

SUBSYSTEMS = [
    "workflows",
    "triggers",
    "listeners",
    "remediations",
    "history",
    "service_tokens",
    "agentensor",
    "vault",
    "chatkit",
]


def harmless_read(storage: Storage, subsystem: str) -> Callable[[], Awaitable[Any]]:
    """One harmless read of ``subsystem``, bound to the store ``storage`` hands out now."""
    if subsystem == "history":
        return partial(storage.history.list_histories, "wf")
    if subsystem == "agentensor":
        return partial(storage.agentensor.list_checkpoints, "wf")
    if subsystem == "chatkit":
        return partial(storage.chatkit.load_threads, 20, None, "asc", ChatContext())
    reads: dict[str, Callable[[], Awaitable[Any]]] = {
        "workflows": storage.workflows.list_workflows,
        "triggers": storage.triggers.list_cron_configs,
        "listeners": storage.listeners.list_active_subscriptions,
        "remediations": storage.remediations.list_candidates,
        "service_tokens": storage.service_tokens.list_all,
        "vault": storage.vault.list_credentials,
    }
    return reads[subsystem]


@pytest.mark.parametrize(
    "subsystem",
    [pytest.param(name, marks=pytest.mark.orcheo_subsystem(name)) for name in SUBSYSTEMS],
)
async def test_a_store_kept_past_close_refuses_calls(
    provision_storage: ProvisionStorage, subsystem: str
) -> None:
    async with provision_storage() as storage:
        read = harmless_read(storage, subsystem)
        await read()  # works while open
    with pytest.raises(BackendUnavailableError, match="closed"):
        await read()
    # and a store asked of the closed storage afterwards
    with pytest.raises(BackendUnavailableError, match="closed"):
        await harmless_read(storage, subsystem)()
