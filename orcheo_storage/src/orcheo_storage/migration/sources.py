"""What the engine reads from and writes to: thin adapters over backend sessions.

A migration source is anything that streams logical rows in key order and counts
them (a backend session's :class:`~orcheo_storage.protocols.backend.BulkTransfer`, an
export folder, or a file written by today's Orcheo). A target is a backend session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from orcheo_storage.jsoncodec import JsonObject
from orcheo_storage.migration.tables import LOGICAL_TABLES
from orcheo_storage.protocols.backend import BackendSession, BulkTransfer

if TYPE_CHECKING:
    from orcheo_storage.migration.progress import Reporter
    from orcheo_storage.migration.verify import VerifyReport


@runtime_checkable
class RowSource(Protocol):
    """A readable set of logical tables."""

    @property
    def name(self) -> str:
        """What the source is, for messages and the fingerprint (never a secret)."""
        ...

    def tables(self) -> list[str]:
        """The logical tables this source holds."""
        ...

    async def schema_version(self) -> int: ...

    def export_rows(self, table: str, *, batch_size: int = 1000) -> AsyncIterator[list[JsonObject]]:
        """The table's rows in key order, in batches."""
        ...

    async def count_rows(self, table: str) -> int: ...

    def unmapped(self) -> list[str]:
        """What the source holds that no logical table takes (reported, not moved)."""
        ...


@runtime_checkable
class CheckedSource(Protocol):
    """A source that refuses rows it cannot carry, and verifies a target against itself.

    The engine exports such a source completely before it writes anything to the target
    (so a refused row leaves the target untouched), and verifies the target with
    :meth:`verify_target` instead of comparing it with its own export.
    """

    async def verify_target(self, target: BackendSession, reporter: Reporter) -> VerifyReport:
        """Compare ``target`` with this source, naming every difference."""
        ...

    async def check_all(self) -> CheckReport:
        """Read and map every row, writing nothing; every refusal is reported, none raised."""
        ...

    def accounting(self) -> dict[str, Any]:
        """What the read carried, dropped (documented) and lost (allowed), for the manifest."""
        ...


@dataclass
class CheckReport:
    """What a complete read of a checked source found (a dry run's view of ``run``)."""

    rows: dict[str, int] = field(default_factory=dict)
    refused_rows: int = 0
    refusals: list[str] = field(default_factory=list)
    """The first refusals' messages, each naming file, table, key and field."""


class BackendSource:
    """A backend session as a migration source (its bulk hooks plus its schema version)."""

    def __init__(self, session: BackendSession, name: str) -> None:
        self._session = session
        self._bulk: BulkTransfer = session.bulk()
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    @property
    def bulk(self) -> BulkTransfer:
        return self._bulk

    def tables(self) -> list[str]:
        return [t.name for t in LOGICAL_TABLES]

    async def schema_version(self) -> int:
        return (await self._session.schema_status()).current

    def export_rows(self, table: str, *, batch_size: int = 1000) -> AsyncIterator[list[JsonObject]]:
        return self._bulk.export_rows(table, batch_size=batch_size)

    async def count_rows(self, table: str) -> int:
        return await self._bulk.count_rows(table)

    def unmapped(self) -> list[str]:
        return []
