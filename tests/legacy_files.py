"""Today's Orcheo SQLite files, built for the migration tests (holds no tests itself).

:func:`build_legacy` writes the four files in today's layout (or an old layout missing the
later columns); :func:`legacy_source` opens them as a migration source and
:func:`pg_target` opens a fresh PostgreSQL target. Imported by name (``pythonpath`` in the
workspace's pytest configuration; a test run as a script has its folder on ``sys.path``).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import uuid
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from orcheo_storage.crypto import VaultCipher
from orcheo_storage.keys import cipher_for
from orcheo_storage.migration.legacy import LegacyPaths, LegacySource
from orcheo_storage.migration.run import open_backend
from orcheo_storage.plugins.registry import create_registry
from orcheo_storage.protocols.backend import BackendSession
from orcheo_storage.settings import BACKEND_SETTINGS, StorageSettings

with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message="Direct usage of named widget", category=DeprecationWarning
    )
    from chatkit.types import ThreadItem  # noqa: F401  (loads chatkit quietly for the stores)


LEGACY_KEY = "today's vault key"
TARGET_KEY = "the new vault key"
NOW = datetime(2025, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
T = NOW.isoformat()

DSN = os.environ.get("ORCHEO_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
TARGET = StorageSettings(
    **dict.fromkeys(BACKEND_SETTINGS, "postgres"),
    postgres_dsn=DSN,
    vault_encryption_key=TARGET_KEY,
    auto_migrate=False,
)


@asynccontextmanager
async def pg_target(workdir: Path) -> AsyncIterator[BackendSession]:
    """A PostgreSQL target in a fresh schema, dropped afterwards."""
    async with create_registry().get("postgres").provision(TARGET, workdir) as fresh:
        session = await open_backend("postgres", fresh)
        try:
            yield session
        finally:
            await session.close()


IDS = {
    name: str(uuid.uuid4())
    for name in ("wf", "wf2", "ver", "run", "rem", "sub", "cred", "tpl", "alert", "ckpt")
}


def _db(path: Path, ddl: list[str], rows: dict[str, list[tuple[Any, ...]]]) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    for statement in ddl:
        conn.execute(statement)
    for table, values in rows.items():
        for value in values:
            marks = ", ".join("?" * len(value))
            conn.execute(f"INSERT INTO {table} VALUES ({marks})", value)
    conn.commit()
    conn.close()


def _workflow_payload(wid: str, name: str, handle: str | None, archived: bool) -> str:
    # Orcheo's Workflow model as it dumps it: publication flat, chat config under `chatkit`.
    return json.dumps({
        "id": wid, "created_at": T, "updated_at": T, "audit_log": [], "name": name,
        "handle": handle, "slug": name.lower(), "description": None, "tags": ["legacy"],
        "is_archived": archived, "draft_access": "personal", "is_public": False,
        "published_at": None, "published_by": None, "require_login": False,
        "share_url": None, "chatkit": None,
    })  # fmt: skip


def build_legacy(folder: Path, *, old: bool) -> None:
    """Write the four files of today's Orcheo; ``old`` drops the columns added later."""
    folder.mkdir(parents=True, exist_ok=True)
    wf_cols = (
        "id TEXT PRIMARY KEY, payload TEXT, created_at TEXT, updated_at TEXT"
        if old
        else (
            "id TEXT PRIMARY KEY, handle TEXT, is_archived INTEGER, payload TEXT, created_at TEXT, updated_at TEXT"
        )
    )
    wf_rows = [
        (IDS["wf"], _workflow_payload(IDS["wf"], "Alpha", "alpha", False), T, T),
        (IDS["wf2"], _workflow_payload(IDS["wf2"], "Beta", None, True), T, T),
    ]
    if not old:  # the mirrored columns, as Orcheo writes them beside the payload
        wf_rows = [
            (r[0], h, a, r[1], r[2], r[3])
            for r, h, a in zip(wf_rows, ("alpha", None), (0, 1), strict=True)
        ]
    version = {
        "id": IDS["ver"],
        "workflow_id": IDS["wf"],
        "version": 1,
        "graph": {"nodes": [1, 2.5, 2**70]},
        "metadata": {},
        "runnable_config": None,
        "notes": None,
        "created_by": "ann",
        "created_at": T,
        "updated_at": T,
        "mermaid": None,
        "audit_log": [],
    }
    run = {
        "id": IDS["run"],
        "workflow_version_id": IDS["ver"],
        "status": "succeeded",
        "triggered_by": "cron",
        "input_payload": {"q": "ü"},
        "runnable_config": {},
        "tags": [],
        "callbacks": [],
        "metadata": {},
        "run_name": None,
        "output_payload": {"a": 1},
        "error": None,
        "started_at": T,
        "completed_at": T,
        "created_at": T,
        "updated_at": T,
        "audit_log": [],
    }
    rem = {
        "id": IDS["rem"],
        "workflow_id": IDS["wf"],
        "workflow_version_id": IDS["ver"],
        "run_id": IDS["run"],
        "fingerprint": "fp",
        "version_checksum": "abc",
        "status": "pending",
        "attempt_count": 0,
        "context": {"trace": [1]},
        "created_at": T,
        "updated_at": T,
    }
    sub = {
        "id": IDS["sub"],
        "workflow_id": IDS["wf"],
        "workflow_version_id": IDS["ver"],
        "node_name": "n",
        "platform": "slack",
        "bot_identity_key": "b",
        "config": {"c": 1},
        "status": "paused",
        "last_event_at": T,
        "created_at": T,
        "updated_at": T,
        "audit_log": [],
    }
    cron_cols = "workflow_id TEXT PRIMARY KEY, config TEXT" + (
        "" if old else ", last_dispatched_at TEXT"
    )
    cron_row: tuple[Any, ...] = (
        IDS["wf"],
        json.dumps({"expression": "0 * * * *", "timezone": "UTC"}),
    )
    if not old:
        cron_row += (T,)
    _db(folder / "workflows.sqlite", [
        f"CREATE TABLE workflows ({wf_cols})",
        "CREATE TABLE workflow_versions (id TEXT PRIMARY KEY, workflow_id TEXT, version INTEGER, payload TEXT, created_at TEXT, updated_at TEXT)",
        "CREATE TABLE workflow_runs (id TEXT PRIMARY KEY, workflow_id TEXT, workflow_version_id TEXT, status TEXT, triggered_by TEXT, payload TEXT, created_at TEXT, updated_at TEXT)",
        "CREATE TABLE workflow_run_remediations (id TEXT PRIMARY KEY, workflow_id TEXT, workflow_version_id TEXT, run_id TEXT, status TEXT, fingerprint TEXT, version_checksum TEXT, payload TEXT, attempt_count INTEGER, created_at TEXT, updated_at TEXT)",
        "CREATE TABLE webhook_triggers (workflow_id TEXT PRIMARY KEY, config TEXT)",
        f"CREATE TABLE cron_triggers ({cron_cols})",
        "CREATE TABLE retry_policies (workflow_id TEXT PRIMARY KEY, config TEXT)",
        "CREATE TABLE listener_subscriptions (id TEXT PRIMARY KEY, workflow_id TEXT, workflow_version_id TEXT, node_name TEXT, platform TEXT, bot_identity_key TEXT, status TEXT, assigned_runtime TEXT, lease_expires_at TEXT, last_event_at TEXT, last_error TEXT, payload TEXT, created_at TEXT, updated_at TEXT)",
        "CREATE TABLE listener_cursors (subscription_id TEXT PRIMARY KEY, payload TEXT, updated_at TEXT)",
        "CREATE TABLE listener_dedupe (subscription_id TEXT, dedupe_key TEXT, payload TEXT, expires_at TEXT, PRIMARY KEY (subscription_id, dedupe_key))",
        "CREATE TABLE execution_history (execution_id TEXT PRIMARY KEY, workflow_id TEXT, inputs TEXT, runnable_config TEXT, tags TEXT, callbacks TEXT, metadata TEXT, run_name TEXT, status TEXT, started_at TEXT, completed_at TEXT, error TEXT, trace_id TEXT, trace_started_at TEXT, trace_completed_at TEXT, trace_last_span_at TEXT)",
        "CREATE TABLE execution_history_steps (execution_id TEXT, step_index INTEGER, at TEXT, payload TEXT, PRIMARY KEY (execution_id, step_index))",
        "CREATE TABLE agentensor_checkpoints (id TEXT PRIMARY KEY, workflow_id TEXT, config_version INTEGER, runnable_config TEXT, metrics TEXT, metadata TEXT, artifact_url TEXT, is_best INTEGER, created_at TEXT)",
        "CREATE TABLE some_table_from_the_future (x TEXT)",
    ], {
        "workflows": wf_rows,
        "workflow_versions": [(IDS["ver"], IDS["wf"], 1, json.dumps(version), T, T)],
        "workflow_runs": [(IDS["run"], IDS["wf"], IDS["ver"], "succeeded", "cron", json.dumps(run), T, T)],
        "workflow_run_remediations": [(IDS["rem"], IDS["wf"], IDS["ver"], IDS["run"], "pending", "fp", "abc", json.dumps(rem), 0, T, T)],
        "webhook_triggers": [(IDS["wf"], json.dumps({"allowed_methods": ["POST"], "shared_secret": "hook-secret"}))],
        "cron_triggers": [cron_row],
        "retry_policies": [(IDS["wf"], json.dumps({"max_attempts": 5}))],
        "listener_subscriptions": [(IDS["sub"], IDS["wf"], IDS["ver"], "n", "slack", "b", "paused", None, None, T, None, json.dumps(sub), T, T)],
        "listener_cursors": [(IDS["sub"], json.dumps({"subscription_id": IDS["sub"], "telegram_offset": 41, "metadata": {}, "updated_at": T}), T)],
        "listener_dedupe": [(IDS["sub"], "evt-1", json.dumps({"subscription_id": IDS["sub"], "dedupe_key": "evt-1", "created_at": T, "expires_at": (NOW + timedelta(days=1)).isoformat()}), (NOW + timedelta(days=1)).isoformat())],
        "execution_history": [("exec-1", IDS["wf"], '{"x": 1}', "{}", '["t"]', "[]", "{}", None, "completed", T, T, None, None, None, None, None)],
        "execution_history_steps": [("exec-1", i, T, json.dumps({"step": i, "big": 2**65})) for i in range(3)],
        "agentensor_checkpoints": [(IDS["ckpt"], IDS["wf"], 1, "{}", '{"score": 0.75}', "{}", None, 1, T)],
    })  # fmt: skip
    msg_cols = (
        "id TEXT PRIMARY KEY, ordinal INTEGER, item_type TEXT, item_json TEXT, created_at TEXT"
        if old
        else (
            "id TEXT PRIMARY KEY, thread_id TEXT, ordinal INTEGER, item_type TEXT, item_json TEXT, created_at TEXT"
        )
    )
    items = []
    for n, (key, text) in enumerate((("thread_id", "first"), ("threadId", "second"))):
        item = {
            "id": f"msg_{n}",
            "type": "user_message",
            "created_at": T,
            "content": [{"type": "input_text", "text": text}],
            "attachments": [],
            "inference_options": {},
        }
        if old:
            item[key] = "thr_1"
            items.append((f"msg_{n}", n, "user_message", json.dumps(item), T))
        else:
            item["thread_id"] = "thr_1"
            items.append((f"msg_{n}", "thr_1", n, "user_message", json.dumps(item), T))
    _db(folder / "chatkit.sqlite", [
        "CREATE TABLE chat_threads (id TEXT PRIMARY KEY, title TEXT, workflow_id TEXT, status_json TEXT, metadata_json TEXT, created_at TEXT, updated_at TEXT)",
        f"CREATE TABLE chat_messages ({msg_cols})",
        "CREATE TABLE chat_attachments (id TEXT PRIMARY KEY, thread_id TEXT, attachment_type TEXT, name TEXT, mime_type TEXT, details_json TEXT, storage_path TEXT, created_at TEXT)",
    ], {
        "chat_threads": [("thr_1", "Hello", IDS["wf"], '{"type": "active"}', json.dumps({"workflow_id": IDS["wf"]}), T, T)],
        "chat_messages": items,
        "chat_attachments": [("att_1", "thr_1", "file", "a.txt", "text/plain", json.dumps({"id": "att_1", "type": "file", "name": "a.txt", "mime_type": "text/plain"}), "/blobs/att_1", T)],
    })  # fmt: skip
    _db(folder / "service_tokens.sqlite", [
        "CREATE TABLE service_tokens (identifier TEXT PRIMARY KEY, secret_hash TEXT, scopes TEXT, workspace_ids TEXT, created_at TEXT, created_by TEXT, issued_at TEXT, expires_at TEXT, last_used_at TEXT, use_count INTEGER, rotation_expires_at TEXT, rotated_to TEXT, rotated_from TEXT, revoked_at TEXT, revoked_by TEXT, revocation_reason TEXT, allowed_ip_ranges TEXT, rate_limit_override INTEGER)",
        "CREATE TABLE service_token_audit_log (id INTEGER PRIMARY KEY AUTOINCREMENT, token_id TEXT, action TEXT, actor TEXT, ip_address TEXT, user_agent TEXT, timestamp TEXT, details TEXT)",
    ], {
        "service_tokens": [("tok-1", hashlib.sha256(b"s").hexdigest(), '["read"]', None, T, "ann", T, None, None, 3, None, None, None, None, None, None, '["10.0.0.0/8"]', None)],
        "service_token_audit_log": [(None, "tok-1", "created", "ann", "1.2.3.4", "ua", T, '{"k": 1}'), (None, "tok-1", "used", None, None, None, T, None)],
    })  # fmt: skip
    legacy = VaultCipher.from_passphrase(LEGACY_KEY)
    envelope = legacy.encrypt("legacy-api-key").model_dump()
    cred = {
        "id": IDS["cred"],
        "name": "Legacy cred",
        "provider": "openai",
        "scopes": ["x"],
        "encryption": envelope,
        "kind": "secret",
        "oauth_tokens": None,
        "template_id": None,
        "health": {"status": "healthy", "last_checked_at": T, "failure_reason": None},
        "scope": {"workflow_ids": [], "workspace_ids": [], "roles": []},
        "audit_log": [],
        "created_at": T,
        "updated_at": T,
    }
    tpl = {
        "id": IDS["tpl"],
        "name": "Tpl",
        "provider": "openai",
        "scopes": [],
        "description": "d",
        "scope": {"roles": ["admin"]},
        "kind": "secret",
        "issuance_policy": {},
        "created_at": T,
        "updated_at": T,
        "audit_log": [],
    }
    alert = {
        "id": IDS["alert"],
        "kind": "expiring",
        "severity": "warning",
        "message": "soon",
        "credential_id": IDS["cred"],
        "template_id": None,
        "is_acknowledged": False,
        "scope": {"workflow_ids": [], "workspace_ids": [], "roles": []},
        "created_at": T,
        "updated_at": T,
        "audit_log": [],
    }
    _db(folder / "vault.sqlite", [
        "CREATE TABLE credentials (id TEXT PRIMARY KEY, workflow_id TEXT, name TEXT, provider TEXT, created_at TEXT, updated_at TEXT, payload TEXT)",
        "CREATE TABLE credential_templates (id TEXT PRIMARY KEY, scope_hint TEXT, name TEXT, provider TEXT, created_at TEXT, updated_at TEXT, payload TEXT)",
        "CREATE TABLE governance_alerts (id TEXT PRIMARY KEY, scope_hint TEXT, acknowledged INTEGER, created_at TEXT, updated_at TEXT, payload TEXT)",
    ], {
        "credentials": [(IDS["cred"], "global", "Legacy cred", "openai", T, T, json.dumps(cred))],
        "credential_templates": [(IDS["tpl"], "global", "Tpl", "openai", T, T, json.dumps(tpl))],
        "governance_alerts": [(IDS["alert"], "global", 1, T, T, json.dumps(alert))],
    })  # fmt: skip


def file_digests(folder: Path) -> dict[str, str]:
    # SQLite itself may add an empty -wal and a -shm index beside a WAL database even for a
    # read-only reader; the databases themselves must stay byte-identical.
    for wal in folder.glob("*.sqlite-wal"):
        assert wal.stat().st_size == 0, wal
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.sqlite"))
    }


def legacy_source(folder: Path, key: str | None = LEGACY_KEY) -> LegacySource:
    return LegacySource(
        LegacyPaths.in_folder(folder), target_cipher=cipher_for(TARGET), legacy_vault_key=key
    )
