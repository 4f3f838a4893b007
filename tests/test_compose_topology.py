"""The docker-compose topology without Docker: one-shot migrate, then several application
processes on one PostgreSQL schema, each opening storage from ORCHEO_* environment only.

The environment of each process is the one docker-compose.yml gives its service, with the
DSN pointed at the test server and a fresh schema name. The processes race on the rules
that must hold across processes (gapless version numbers, exclusive claims, cron
compare-and-set, gapless history steps) and share encrypted vault records.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest
from orcheo_storage.crypto import VaultCipher, derive_key
from orcheo_storage.settings import StorageSettings
from orcheo_storage.vault import CredentialVault
from orcheo_storage_postgres._db import direct_connection
from orcheo_storage_postgres.session import PostgresSession
from psycopg import sql

from .test_compose import APP_SERVICES, environment, load_compose

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

VAULT_KEY = "topology-test-key"
VERSIONS_PER_PROCESS = 10
SLOTS = 15
STEPS_PER_PROCESS = 20
CANDIDATES = 30

WORKER = r"""
import asyncio, json, os, sys, uuid
from datetime import datetime, timedelta, timezone

from orcheo_storage.storage import open_storage

async def main() -> None:
    spec = json.loads(os.environ["TOPOLOGY_INPUT"])
    role = sys.argv[1]
    wf = uuid.UUID(spec["workflow_id"])
    base = datetime.fromisoformat(spec["base"])
    out = {"role": role, "versions": [], "claimed": [], "slots": [], "steps": []}
    async with open_storage() as storage:  # settings from ORCHEO_* environment only
        repo = storage.workflows
        for _ in range(spec["versions"]):
            v = await repo.create_version(wf, graph={"by": role}, created_by=role)
            out["versions"].append(v.version)
            while (c := await storage.remediations.claim_next(worker_id=role)) is not None:
                out["claimed"].append(str(c.id))
        for k in range(spec["slots"]):
            expected = None if k == 0 else base + timedelta(minutes=k - 1)
            new = base + timedelta(minutes=k)
            if await storage.triggers.advance_cron_dispatch(wf, expected=expected, new=new):
                out["slots"].append(k)
        for _ in range(spec["steps"]):
            step = await storage.history.append_step("shared", {"by": role})
            out["steps"].append(step.index)
        await storage.vault.create_credential(
            name=f"{role}-cred", provider="test", secret=f"secret-of-{role}", actor=role
        )
    print(json.dumps(out))

asyncio.run(main())
"""


def _env(service: str, dsn: str, schema: str, extra: dict[str, str]) -> dict[str, str]:
    compose_env = environment(load_compose()["services"][service])
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCHEO_")}
    env.update(compose_env)
    env.update(
        ORCHEO_POSTGRES_DSN=dsn,
        ORCHEO_POSTGRES_SCHEMA=schema,
        ORCHEO_VAULT_ENCRYPTION_KEY=VAULT_KEY,
        **extra,
    )
    return env


async def test_topology_on_one_schema(pg_dsn: str) -> None:
    # A brand-new schema name: the migrate service must create and migrate it itself.
    schema = f"orcheo_topology_{uuid.uuid4().hex[:12]}"
    provisioned = StorageSettings(
        postgres_dsn=pg_dsn, repository_backend="postgres", postgres_schema=schema
    )
    try:
        # 1. The one-shot migrate service, exactly as compose runs it.
        command = load_compose()["services"]["migrate"]["command"]
        exe = Path(sys.executable).parent / command[0]
        done = await asyncio.to_thread(
            subprocess.run,
            [str(exe), *command[1:]],
            env=_env("migrate", pg_dsn, schema, {}),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert "step(s) applied" in done.stdout, done.stdout

        # 2. Shared starting state, written through the backend.
        settings = provisioned.model_copy(
            update={"auto_migrate": False, "vault_encryption_key": None}
        )
        session = await PostgresSession.open(settings)
        try:
            repo = session.workflows()
            wf = await repo.create_workflow(name="topology", actor="setup")
            v = await repo.create_version(wf.id, graph={}, created_by="setup")
            run = await repo.create_run(wf.id, workflow_version_id=v.id, triggered_by="setup")
            candidates = [
                await session.remediations().create_candidate(
                    workflow_id=wf.id,
                    workflow_version_id=v.id,
                    run_id=run.id,
                    fingerprint=f"fp-{i}",
                    version_checksum=v.checksum,
                )
                for i in range(CANDIDATES)
            ]
            await session.history().start_run(execution_id="shared", workflow_id=str(wf.id))
            spec = {
                "workflow_id": str(wf.id),
                "base": "2030-01-01T00:00:00+00:00",
                "versions": VERSIONS_PER_PROCESS,
                "slots": SLOTS,
                "steps": STEPS_PER_PROCESS,
            }

            # 3. The application services, concurrently, as separate OS processes.
            procs = [
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-c",
                    WORKER,
                    name,
                    env=_env(name, pg_dsn, schema, {"TOPOLOGY_INPUT": json.dumps(spec)}),
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                )
                for name in APP_SERVICES
            ]
            outputs = []
            for proc in procs:
                out, err = await asyncio.wait_for(proc.communicate(), timeout=180)
                assert proc.returncode == 0, err.decode()
                outputs.append(json.loads(out.decode().strip().splitlines()[-1]))

            # 4. Every cross-process rule held.
            versions = sorted(n for o in outputs for n in o["versions"])
            assert versions == list(range(2, 2 + VERSIONS_PER_PROCESS * len(APP_SERVICES)))
            claimed = [c for o in outputs for c in o["claimed"]]
            assert len(claimed) == len(set(claimed)), "a candidate was claimed twice"
            assert set(claimed) == {str(c.id) for c in candidates}
            wins = Counter(k for o in outputs for k in o["slots"])
            assert wins == Counter(range(SLOTS)), "each cron slot is dispatched exactly once"
            steps = sorted(i for o in outputs for i in o["steps"])
            assert steps == list(range(STEPS_PER_PROCESS * len(APP_SERVICES)))
            record = await session.history().get_history("shared")
            assert [s.index for s in record.steps] == steps
            stored = await repo.list_versions(wf.id)
            assert [x.version for x in stored] == [1, *versions]
            # Vault records written by each process decrypt with the shared key here.
            vault = CredentialVault(
                session.vault_records(), VaultCipher({"primary": derive_key(VAULT_KEY)}, "primary")
            )
            creds = {c.name: c for c in await vault.list_credentials()}
            assert set(creds) == {f"{name}-cred" for name in APP_SERVICES}
            for name in APP_SERVICES:
                secret = await vault.reveal_secret(creds[f"{name}-cred"].id)
                assert secret.get_secret_value() == f"secret-of-{name}"
        finally:
            await session.close()
    finally:
        async with direct_connection(provisioned) as conn:
            await conn.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )
