"""The reject file: rows the target refused, kept (mode 0600) for the operator to fix."""

from __future__ import annotations

import json
import os
import stat
from collections import Counter
from pathlib import Path
from typing import Any

from orcheo_storage.jsoncodec import JsonObject
from orcheo_storage.migration.canonical import encode_line


class RejectFile:
    """Append-only JSON Lines of rejected rows; re-running never records a row twice.

    Each line: ``{"table", "batch_id", "row", "key", "reason", "data"}``. The file holds
    rows that may carry token hashes or ciphertext, so it is created owner-only and an
    existing file is tightened to 0600.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: set[tuple[str, int]] = set()
        self.per_batch: Counter[str] = Counter()
        if path.exists():
            os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
            for line in path.read_bytes().splitlines():
                try:
                    record = json.loads(line)
                    ident = (str(record["batch_id"]), int(record["row"]))
                except (ValueError, KeyError, TypeError):
                    continue  # a torn last line of a killed run
                if ident not in self._seen:
                    self._seen.add(ident)
                    self.per_batch[ident[0]] += 1

    @property
    def total(self) -> int:
        return len(self._seen)

    def has(self, batch_id: str, row_no: int) -> bool:
        return (batch_id, row_no) in self._seen

    def add(
        self, table: str, batch_id: str, row_no: int, key: list[Any], reason: str, row: JsonObject
    ) -> None:
        """Record a rejected row (no-op if this batch row is already recorded)."""
        ident = (batch_id, row_no)
        if ident in self._seen:
            return
        record: JsonObject = {
            "table": table,
            "batch_id": batch_id,
            "row": row_no,
            "key": key,
            "reason": reason,
            "data": row,
        }
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, encode_line(record))
            os.fsync(fd)
        finally:
            os.close(fd)
        self._seen.add(ident)
        self.per_batch[batch_id] += 1
