"""What row mappers need besides the row: notes and the two vault ciphers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orcheo_storage.crypto import VaultCipher
from orcheo_storage.jsoncodec import JsonObject
from orcheo_storage.migration.legacy.fitting import Notes


@dataclass
class MapContext:
    """Shared state of one legacy read.

    Attributes:
        notes: dropped fields and columns, reported in the manifest.
        target_cipher: seals secrets for this project's vault (webhook and credential secrets).
        legacy_cipher: opens today's vault envelopes (``None`` when no legacy key is known).
    """

    notes: Notes
    target_cipher: VaultCipher
    legacy_cipher: VaultCipher | None


Mapper = Callable[[dict[str, Any], MapContext], JsonObject]


@dataclass(frozen=True)
class TableMap:
    """How one logical table is read from one legacy table.

    Attributes:
        logical: the logical table name.
        file: which legacy file (``repository``, ``chatkit``, ``tokens``, ``vault``).
        legacy: the legacy table name.
        order: SQL ``ORDER BY`` expressions giving the logical key order.
        mapper: legacy row -> logical row.
        where: an optional SQL filter.
        derived: extra SELECT expressions by name, used when a column is missing
            (``{"thread_id": "json_extract(item_json, '$.thread_id')"}``).
    """

    logical: str
    file: str
    legacy: str
    order: tuple[str, ...]
    mapper: Mapper
    where: str = ""
    derived: tuple[tuple[str, str], ...] = ()
