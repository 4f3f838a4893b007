"""Child process of the crash test: writes forever, printing an ack after each commit.

Usage: ``python crash_writer.py <folder>``. Not a test module (no ``test_`` prefix).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from pathlib import Path

from orcheo_storage.clock import utcnow
from orcheo_storage.errors import DuplicateError, WorkflowNotFoundError
from orcheo_storage.models.tokens import TokenAuditEvent
from orcheo_storage.settings import StorageSettings
from orcheo_storage_sqlite.session import SqliteSession


def ack(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def main(folder: Path) -> None:
    settings = StorageSettings(
        repository_sqlite_path=folder / "workflows.sqlite",
        chatkit_sqlite_path=folder / "chatkit.sqlite",
        vault_local_path=folder / "vault.sqlite",
        auth_service_token_db_path=folder / "service_tokens.sqlite",
        vault_encryption_key="crash-test",
    )
    session = await SqliteSession.open(settings)
    workflows = session.workflows()
    try:
        workflow_id = await workflows.resolve_workflow_ref("crash")
    except WorkflowNotFoundError:
        workflow_id = (await workflows.create_workflow(name="c", actor="c", handle="crash")).id
    with contextlib.suppress(DuplicateError):
        await session.history().start_run(execution_id="crash", workflow_id=str(workflow_id))
    ack("ready")
    n = 0
    while True:
        n += 1
        version = await workflows.create_version(workflow_id, graph={"n": n}, created_by="c")
        ack(f"v {version.version}")
        step = await session.history().append_step("crash", {"n": n})
        ack(f"s {step.index}")
        marker = str(uuid.uuid4())
        await session.service_tokens().record_audit_event(
            TokenAuditEvent(
                token_id="crash", action="marker", timestamp=utcnow(), details={"m": marker}
            )
        )
        ack(f"a {marker}")


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
