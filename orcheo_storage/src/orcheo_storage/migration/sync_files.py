"""The files of one sync generation: delta batches, per-table summaries, checked reads."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from orcheo_storage.jsoncodec import JsonValue, loads
from orcheo_storage.migration.manifest import BatchCorruptError


class DeltaBatch(BaseModel):
    """One file of upserted rows or deleted keys."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["upserts", "deletes"]
    batch: int
    rows: int
    sha256: str

    def file_name(self) -> str:
        return f"{self.kind}-{self.batch:06d}.jsonl"

    def batch_id(self, generation: int, table: str) -> str:
        """The ledger id: ``sync:<generation>:<table>:<kind>:<n>:<sha256>``."""
        return f"sync:{generation}:{table}:{self.kind}:{self.batch}:{self.sha256}"


class TableDelta(BaseModel):
    """What one generation's scan found in one table."""

    model_config = ConfigDict(frozen=True)

    name: str
    rows: int
    changed: int
    added: int
    deleted: int
    batches: list[DeltaBatch]
    versions_sha256: str


def read_checked(path: Path, sha256: str, *, parse: bool = False) -> list[JsonValue]:
    """Check ``path`` against its recorded SHA-256; with ``parse``, return its JSON lines.

    Raises:
        BatchCorruptError: the file is missing or was altered.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BatchCorruptError(f"sync file {path} is missing") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise BatchCorruptError(
            f"sync file {path} does not match its recorded SHA-256; the folder was altered: "
            "remove the sync folder's unfinished generation or export again"
        )
    return [loads(line) for line in data.splitlines()] if parse else []
