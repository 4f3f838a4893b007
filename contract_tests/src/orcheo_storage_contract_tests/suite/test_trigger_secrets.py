"""Contract: webhook secrets are bound to their workflow and field (issue 13).

Each sealed webhook secret carries associated data naming its workflow and field, as vault
credentials do: a sealed config copied into another workflow's row, or an HMAC envelope
moved into the shared-secret field, fails to decrypt instead of handing out a secret.
Envelopes sealed before they were bound are read once and sealed again, bound. The raw
rows are reached through the backend's bulk hooks (``BulkTransfer``), the same on every
backend.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import pytest
from orcheo_storage.errors import DecryptionError
from orcheo_storage.jsoncodec import JsonObject
from orcheo_storage.keys import cipher_for
from orcheo_storage.protocols.backend import BulkTransfer, Subsystem
from orcheo_storage.storage import Storage

_BATCHES = itertools.count()


def _bulk(storage: Storage) -> BulkTransfer:
    return storage.session_for(Subsystem.TRIGGERS).bulk()


async def _raw(storage: Storage, workflow_id: uuid.UUID) -> JsonObject:
    async for batch in _bulk(storage).export_rows("webhook_triggers"):
        for row in batch:
            if str(row["workflow_id"]) == str(workflow_id):
                config = row["config"]
                assert isinstance(config, dict)
                return config
    raise AssertionError(f"no webhook row for {workflow_id}")


async def _store_raw(storage: Storage, workflow_id: uuid.UUID, config: JsonObject) -> None:
    row: JsonObject = {"workflow_id": str(workflow_id), "config": config}
    batch_id = f"test-webhook-{uuid.uuid4().hex}-{next(_BATCHES)}"
    assert await _bulk(storage).apply_changes("webhook_triggers", [row], [], batch_id=batch_id)


async def _workflow(storage: Storage, name: str) -> uuid.UUID:
    return (await storage.workflows.create_workflow(name=name, actor="t")).id


async def _with_secrets(storage: Storage, name: str, shared: str, hmac: str) -> uuid.UUID:
    workflow_id = await _workflow(storage, name)
    await storage.triggers.set_webhook_config(
        workflow_id, {"shared_secret": shared, "hmac_secret": hmac}
    )
    return workflow_id


@pytest.mark.asyncio
async def test_a_sealed_config_copied_to_another_workflow_does_not_open(storage: Storage) -> None:
    a = await _with_secrets(storage, "a", "a-shared", "a-hmac")
    b = await _with_secrets(storage, "b", "b-shared", "b-hmac")
    await _store_raw(storage, b, await _raw(storage, a))
    with pytest.raises(DecryptionError):
        await storage.triggers.get_webhook_config(b)
    config = await storage.triggers.get_webhook_config(a)
    assert config.shared_secret is not None
    assert config.shared_secret.get_secret_value() == "a-shared"


@pytest.mark.asyncio
async def test_an_envelope_moved_to_the_other_field_does_not_open(storage: Storage) -> None:
    a = await _with_secrets(storage, "a", "the-shared", "the-hmac")
    raw: dict[str, Any] = dict(await _raw(storage, a))
    raw["shared_secret"] = raw["hmac_secret"]
    await _store_raw(storage, a, raw)
    with pytest.raises(DecryptionError):
        await storage.triggers.get_webhook_config(a)


@pytest.mark.asyncio
async def test_envelopes_from_before_binding_are_read_once_and_sealed_again(
    storage: Storage,
) -> None:
    cipher = cipher_for(storage.settings)  # the suite configures an explicit vault key
    a = await _with_secrets(storage, "a", "x", "y")
    b = await _workflow(storage, "b")
    raw: dict[str, Any] = dict(await _raw(storage, a))
    raw["shared_secret"] = cipher.encrypt("old-shared").model_dump()  # no associated data
    raw["hmac_secret"] = None
    await _store_raw(storage, a, raw)
    config = await storage.triggers.get_webhook_config(a)
    assert config.shared_secret is not None
    assert config.shared_secret.get_secret_value() == "old-shared"
    resealed = await _raw(storage, a)
    assert resealed["shared_secret"] != raw["shared_secret"]
    # bound now: the re-sealed envelope does not open under another workflow
    await _store_raw(storage, b, resealed)
    with pytest.raises(DecryptionError):
        await storage.triggers.get_webhook_config(b)
    again = await storage.triggers.get_webhook_config(a)
    assert again.shared_secret is not None
    assert again.shared_secret.get_secret_value() == "old-shared"
    assert await _raw(storage, a) == resealed  # sealed once, not at every read
