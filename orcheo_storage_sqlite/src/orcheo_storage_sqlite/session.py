"""An open SQLite backend: its database files and the stores that share them."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from orcheo_storage.errors import ConfigurationError, SchemaBehindError, UnsupportedError
from orcheo_storage.keys import cipher_for
from orcheo_storage.legacy_files import check_files
from orcheo_storage.protocols.backend import HealthReport, SchemaStatus, Subsystem
from orcheo_storage.settings import StorageSettings

from orcheo_storage_sqlite import migrations
from orcheo_storage_sqlite.agentensor import SqliteAgentensorStore
from orcheo_storage_sqlite.bulk import SqliteBulkTransfer
from orcheo_storage_sqlite.engine import Database
from orcheo_storage_sqlite.history import SqliteHistoryStore
from orcheo_storage_sqlite.listeners import SqliteListenerStore
from orcheo_storage_sqlite.remediations import SqliteRemediationStore
from orcheo_storage_sqlite.schema import COMPONENTS, Step
from orcheo_storage_sqlite.tokens import SqliteServiceTokenStore
from orcheo_storage_sqlite.triggers import SqliteTriggerStore
from orcheo_storage_sqlite.vault import SqliteVaultRecordStore
from orcheo_storage_sqlite.workflows import SqliteWorkflowRepository

if TYPE_CHECKING:
    from orcheo_storage_sqlite.chat import SqliteChatStore

BACKEND_NAME = "sqlite"
S = TypeVar("S")

COMPONENT_OF: dict[Subsystem, str] = {
    Subsystem.WORKFLOWS: "repository",
    Subsystem.TRIGGERS: "repository",
    Subsystem.LISTENERS: "repository",
    Subsystem.REMEDIATIONS: "repository",
    Subsystem.HISTORY: "repository",
    Subsystem.AGENTENSOR: "repository",
    Subsystem.SERVICE_TOKENS: "tokens",
    Subsystem.VAULT: "vault",
    Subsystem.CHATKIT: "chat",
}

# The setting that names each component's file (named in refusals).
PATH_SETTING = {
    "repository": "ORCHEO_REPOSITORY_SQLITE_PATH",
    "chat": "ORCHEO_CHATKIT_SQLITE_PATH",
    "vault": "ORCHEO_VAULT_LOCAL_PATH",
    "tokens": "ORCHEO_AUTH_SERVICE_TOKEN_DB_PATH",
}

LANGGRAPH_HINT = (
    "the SQLite LangGraph checkpointer needs langgraph-checkpoint-sqlite: "
    "pip install 'orcheo-storage-sqlite[langgraph]'"
)


PATH_SETTING = {
    "repository": "ORCHEO_REPOSITORY_SQLITE_PATH",
    "chat": "ORCHEO_CHATKIT_SQLITE_PATH",
    "vault": "ORCHEO_VAULT_LOCAL_PATH",
    "tokens": "ORCHEO_AUTH_SERVICE_TOKEN_DB_PATH",
}
"""The variable naming each component's file (named in start-up errors)."""


def component_paths(settings: StorageSettings) -> dict[str, Path]:
    """The database file of each component (``~`` expanded)."""
    return {
        "repository": settings.repository_sqlite_path.expanduser(),
        "chat": settings.chatkit_sqlite_path.expanduser(),
        "vault": settings.vault_local_path.expanduser(),
        "tokens": settings.token_db_path().expanduser(),
    }


def langgraph_path(settings: StorageSettings) -> Path:
    """LangGraph's checkpoint file, beside the repository database."""
    repo = settings.repository_sqlite_path.expanduser()
    return repo.with_name(f"{repo.stem}.langgraph.sqlite")


def needed_components(settings: StorageSettings) -> list[str]:
    """Components whose subsystems select this backend (all of them when none does)."""
    wanted = {
        COMPONENT_OF[sub]
        for sub, name in settings.selected_backends().items()
        if name == BACKEND_NAME and sub in COMPONENT_OF
    }
    return [c for c in COMPONENTS if c in wanted] or list(COMPONENTS)


class SqliteSession:
    """:class:`~orcheo_storage.protocols.backend.BackendSession` over one or more files.

    Components that share a path share one :class:`Database` (one writer, one lock).
    """

    def __init__(self, settings: StorageSettings, databases: dict[str, Database]) -> None:
        self._settings = settings
        self._dbs = databases
        self._stores: dict[str, Any] = {}
        # component -> schema steps not applied (known only with auto_migrate off)
        self._behind: dict[str, list[str]] = {}

    def __repr__(self) -> str:
        return f"SqliteSession(components={sorted(self._dbs)!r})"

    @classmethod
    async def open(cls, settings: StorageSettings) -> SqliteSession:
        """Open (and create) the files the selected subsystems need; migrate when
        ``settings.auto_migrate``. Connections opened so far are closed on failure.

        Every file is classified first, without writing anything (no table, no journal-mode
        change, no side file): files in another layout are never opened.

        Raises:
            LegacyFilesError: a file is today's Orcheo file (message: the ``migrate`` commands).
            ForeignFilesError: a file holds an unknown layout or is not a SQLite database.
        """
        by_path: dict[Path, Database] = {}
        databases: dict[str, Database] = {}
        paths = component_paths(settings)
        needed = needed_components(settings)
        await asyncio.to_thread(check_files, {PATH_SETTING[c]: paths[c] for c in needed})
        try:
            for component in needed:
                path = paths[component]
                db = by_path.get(path.resolve())
                if db is None:
                    db = Database(
                        path,
                        synchronous=settings.sqlite_synchronous,
                        busy_timeout_ms=settings.sqlite_busy_timeout_ms,
                        setting=PATH_SETTING[component],
                    )
                    by_path[path.resolve()] = db
                    await db.open()
                databases[component] = db
            session = cls(settings, databases)
            if settings.auto_migrate:
                await session.migrate_schema()
            else:
                await session._note_pending()
            return session
        except BaseException:
            for db in by_path.values():
                await db.close()
            raise

    def database(self, component: str) -> Database:
        """The database of a component, for its stores.

        Raises:
            UnsupportedError: the component was not opened.
            SchemaBehindError: its schema steps are pending (``auto_migrate`` off).
        """
        db = self._dbs.get(component)
        if db is None:
            raise UnsupportedError(
                f"the sqlite backend was not opened for the {component} subsystems"
            )
        pending = self._behind.get(component)
        if pending:
            raise SchemaBehindError(
                f"the {component} schema of {db.path.name} lacks {len(pending)} step(s) and "
                "ORCHEO_AUTO_MIGRATE is off: run `orcheo-storage migrate-schema`",
                pending,
            )
        return db

    def _store(self, key: str, factory: Callable[[], S]) -> S:
        store = self._stores.get(key)
        if store is None:
            store = self._stores[key] = factory()
        return cast(S, store)

    def workflows(self) -> SqliteWorkflowRepository:
        return self._store(
            "workflows", lambda: SqliteWorkflowRepository(self.database("repository"))
        )

    def triggers(self) -> SqliteTriggerStore:
        return self._store(
            "triggers",
            lambda: SqliteTriggerStore(self.database("repository"), cipher_for(self._settings)),
        )

    def listeners(self) -> SqliteListenerStore:
        return self._store("listeners", lambda: SqliteListenerStore(self.database("repository")))

    def remediations(self) -> SqliteRemediationStore:
        return self._store(
            "remediations", lambda: SqliteRemediationStore(self.database("repository"))
        )

    def history(self) -> SqliteHistoryStore:
        return self._store("history", lambda: SqliteHistoryStore(self.database("repository")))

    def agentensor(self) -> SqliteAgentensorStore:
        return self._store("agentensor", lambda: SqliteAgentensorStore(self.database("repository")))

    def service_tokens(self) -> SqliteServiceTokenStore:
        return self._store("tokens", lambda: SqliteServiceTokenStore(self.database("tokens")))

    def vault_records(self) -> SqliteVaultRecordStore:
        return self._store("vault", lambda: SqliteVaultRecordStore(self.database("vault")))

    def chatkit(self) -> SqliteChatStore:
        # Imported on first use: chatkit is heavy and only the chat subsystem needs it.
        from orcheo_storage_sqlite.chat import SqliteChatStore

        return self._store("chat", lambda: SqliteChatStore(self.database("chat")))

    def bulk(self) -> SqliteBulkTransfer:
        return SqliteBulkTransfer(self._dbs)

    def langgraph_checkpointer(self) -> AbstractAsyncContextManager[Any]:
        """LangGraph's ``AsyncSqliteSaver`` on ``<repository stem>.langgraph.sqlite``.

        Raises:
            UnsupportedError: ``langgraph-checkpoint-sqlite`` is not installed (with the
                install command).
        """
        return _langgraph(langgraph_path(self._settings))

    # --- administration -------------------------------------------------------------------

    def _by_database(self) -> list[tuple[Database, dict[str, tuple[Step, ...]]]]:
        grouped: dict[int, tuple[Database, dict[str, tuple[Step, ...]]]] = {}
        for component, db in self._dbs.items():
            grouped.setdefault(id(db), (db, {}))[1][component] = COMPONENTS[component]
        return list(grouped.values())

    async def health(self) -> HealthReport:
        details: dict[str, str] = {}
        ok = True
        for component, db in self._dbs.items():
            try:
                row = await db.read(lambda conn: conn.execute("PRAGMA journal_mode").fetchone())
                details[component] = f"ok ({db.path.name}, journal_mode={row[0]})"
            except Exception as exc:
                ok = False
                details[component] = f"error: {exc.__class__.__name__}"
        return HealthReport(ok=ok, details=details)

    async def schema_status(self) -> SchemaStatus:
        pending: list[str] = []
        current = latest = 0
        for db, components in self._by_database():
            pending.extend(await migrations.plan(db, components))
            versions = await migrations.current_versions(db, components)
            current += sum(versions.values())
            latest += sum(len(steps) for steps in components.values())
        return SchemaStatus(current=current, latest=latest, pending=pending)

    async def migrate_schema(self, *, dry_run: bool = False) -> list[str]:
        """Apply (or with ``dry_run`` only list) pending steps, each file under its write lock."""
        done: list[str] = []
        for db, components in self._by_database():
            if dry_run:
                done.extend(await migrations.plan(db, components))
            else:
                done.extend(await migrations.apply(db, components))
                for component in components:
                    self._behind.pop(component, None)
        return done

    async def _note_pending(self) -> None:
        """Remember which components have pending steps (their stores then refuse)."""
        for db, components in self._by_database():
            for component, steps in components.items():
                pending = await migrations.plan(db, {component: steps})
                if pending:
                    self._behind[component] = pending

    async def close(self) -> None:
        """Close every connection (idempotent)."""
        for db in {id(d): d for d in self._dbs.values()}.values():
            await db.close()


@asynccontextmanager
async def _langgraph(path: Path) -> AsyncIterator[Any]:
    try:
        saver_module = importlib.import_module("langgraph.checkpoint.sqlite.aio")
    except ImportError as exc:
        raise UnsupportedError(LANGGRAPH_HINT) from exc
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"cannot create the folder of {path.name!r}") from exc
    async with saver_module.AsyncSqliteSaver.from_conn_string(str(path)) as saver:
        await saver.setup()
        yield saver
