"""Shared helpers of the migration tests, imported by name (holds no tests itself).

- :func:`dataset` is a Hypothesis strategy of generated data for every subsystem and
  :func:`populate` writes it through the stores of an open backend session.
- Run as a script it is the child process of the kill tests:
  ``python migration_support.py export|import ARGS`` (see :func:`_child`).
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from orcheo_storage.clock import utcnow
from orcheo_storage.keys import cipher_for
from orcheo_storage.models.chat import ChatContext
from orcheo_storage.models.listeners import ListenerSubscriptionSpec
from orcheo_storage.models.tokens import ServiceToken, TokenAuditEvent
from orcheo_storage.models.workflows import RunStatus
from orcheo_storage.protocols.backend import BackendSession
from orcheo_storage.rules.tokens import hash_secret
from orcheo_storage.settings import StorageSettings
from orcheo_storage.vault import CredentialVault

# Imported first: it loads chatkit with its import-time DeprecationWarning silenced.
import orcheo_storage.chatkit_types  # noqa: F401  # isort: skip
from chatkit.types import (  # isort: skip
    InferenceOptions,
    ThreadMetadata,
    UserMessageItem,
    UserMessageTextContent,
)

SAFE = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
text = st.text(SAFE, max_size=20)
name = st.text(SAFE, min_size=1, max_size=30).filter(lambda s: s.strip() != "")
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    # -0.0 is left out: JSONB cannot hold it; test_negative_zero_arrives_or_is_reported
    # checks that a migration never loses it silently.
    st.floats(allow_nan=False, allow_infinity=False).filter(
        lambda f: not (f == 0 and str(f)[0] == "-")
    ),
    text,
)
values = st.recursive(
    scalars,
    lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(text, c, max_size=3)),
    max_leaves=10,
)
objects = st.dictionaries(text, values, max_size=4)


def dataset() -> st.SearchStrategy[dict[str, Any]]:
    """Generated content for every subsystem (JSON with big ints, floats and unicode)."""
    return st.fixed_dictionaries(
        {
            "workflows": st.lists(
                st.fixed_dictionaries(
                    {
                        "name": name,
                        "tags": st.lists(st.text("abcdefgh", min_size=1, max_size=5), max_size=3),
                        "graph": objects,
                        "inputs": objects,
                        "steps": st.lists(objects, max_size=3),
                    }
                ),
                min_size=1,
                max_size=3,
            ),
            "metrics": objects,
            "cursor": objects,
            "token_details": objects,
            "secret": name,
            "chat_title": text,
            "chat_metadata": st.dictionaries(
                st.text("xyz", min_size=1, max_size=3), text, max_size=3
            ),
            "messages": st.lists(name, min_size=1, max_size=3),
        }
    )


async def populate(
    session: BackendSession,
    data: dict[str, Any],
    settings: StorageSettings,
    *,
    webhook: bool = True,
) -> None:
    """Write ``data`` through every subsystem's store of ``session`` (``webhook``: that too)."""
    repo, history = session.workflows(), session.history()
    suffix = uuid.uuid4().hex[:8]
    first = None
    for n, spec in enumerate(data["workflows"]):
        wf = await repo.create_workflow(
            name=f"{spec['name'].strip()[:90]} {suffix}{n}", actor="test", tags=spec["tags"]
        )
        version = await repo.create_version(wf.id, graph=spec["graph"], created_by="test")
        run = await repo.create_run(
            wf.id, workflow_version_id=version.id, triggered_by="test", input_payload=spec["inputs"]
        )
        await repo.transition_run(run.id, RunStatus.RUNNING, actor="test")
        exec_id = f"exec-{suffix}-{n}"
        await history.start_run(execution_id=exec_id, workflow_id=str(wf.id), inputs=spec["inputs"])
        for payload in spec["steps"]:
            await history.append_step(exec_id, payload)
        first = first or (wf, version, run)
    assert first is not None
    wf, version, run = first
    triggers = session.triggers()
    if webhook:
        await triggers.set_webhook_config(wf.id, {"shared_secret": data["secret"]})
    await triggers.set_cron_config(wf.id, {"expression": "*/5 * * * *"})
    await triggers.advance_cron_dispatch(wf.id, expected=None, new=utcnow())
    await triggers.set_retry_policy(wf.id, {"max_attempts": 4})
    await triggers.increment_retry_attempt(run.id)
    listeners = session.listeners()
    subs = await listeners.sync_subscriptions(
        wf.id,
        version.id,
        [ListenerSubscriptionSpec(node_name="n", platform="slack", bot_identity_key="b")],
    )
    await listeners.save_cursor(subs[0].id, fields=data["cursor"], metadata={"m": 1})
    await listeners.record_dedupe(subs[0].id, f"d-{suffix}", window_seconds=3600)
    await session.remediations().create_candidate(
        workflow_id=wf.id,
        workflow_version_id=version.id,
        run_id=run.id,
        fingerprint=f"fp-{suffix}",
        version_checksum=version.checksum,
        context=data["metrics"],
    )
    tokens = session.service_tokens()
    now = utcnow()
    token = ServiceToken(
        identifier=f"tok-{suffix}",
        secret_hash=hash_secret(f"s-{suffix}"),
        scopes=["read"],
        issued_at=now,
        expires_at=now + timedelta(days=1),
    )
    await tokens.create(token)
    await tokens.record_audit_event(
        TokenAuditEvent(
            token_id=token.identifier,
            action="created",
            timestamp=now,
            details=data["token_details"],
        )
    )
    await session.agentensor().record_checkpoint(
        workflow_id=str(wf.id), metrics=data["metrics"], metadata={"k": suffix}, is_best=True
    )
    vault = CredentialVault(session.vault_records(), cipher_for(settings))
    await vault.create_credential(
        name=f"cred {suffix}", provider="p", secret=data["secret"], actor="test"
    )
    await _chat(session, data, suffix)


async def _chat(session: BackendSession, data: dict[str, Any], suffix: str) -> None:
    store = session.chatkit()
    context = ChatContext(workflow_id=f"wf-{suffix}")
    thread_id = f"thr_{suffix}"
    now = utcnow()
    await store.save_thread(
        ThreadMetadata(
            id=thread_id,
            title=data["chat_title"] or None,
            created_at=now,
            metadata=data["chat_metadata"],
        ),
        context,
    )
    for n, message in enumerate(data["messages"]):
        item = UserMessageItem(
            id=f"msg_{suffix}_{n}",
            thread_id=thread_id,
            created_at=now,
            content=[UserMessageTextContent(text=message)],
            inference_options=InferenceOptions(),
        )
        await store.add_thread_item(thread_id, item, context)


async def _child(argv: list[str]) -> None:
    """Kill-test child: ``export SETTINGS_JSON FOLDER`` or ``import SETTINGS_JSON FOLDER``.

    Settings are the target's (import) or the source's (export), as keyword JSON; the
    backend is the ``repository_backend`` field.
    """
    from orcheo_storage.migration.export import export
    from orcheo_storage.migration.importer import import_folder
    from orcheo_storage.migration.run import open_backend
    from orcheo_storage.migration.sources import BackendSource

    action, raw, folder = argv
    settings = StorageSettings(**json.loads(raw))
    session = await open_backend(settings.repository_backend, settings)
    try:
        if action == "export":
            await export(BackendSource(session, "kill-source"), Path(folder), batch_size=7)
        else:
            await session.migrate_schema()
            await import_folder(session.bulk(), Path(folder))
    finally:
        await session.close()


if __name__ == "__main__":
    asyncio.run(_child(sys.argv[1:]))
