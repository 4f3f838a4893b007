"""``COPY ... FROM STDIN`` text-format payloads built in one go for bulk imports.

psycopg's ``write_row`` adapts every value through its dumper machinery and awaits per
row; a bulk import of a few thousand rows of plain values spends more time there than
PostgreSQL spends parsing. :func:`copy_text` writes the same text format directly for
the value types that need no adaptation (``str``, ``int``, ``bool``, ``None`` and JSON
columns, encoded with the core codec) and gives up (``None``) on anything else, so the
caller falls back to ``write_row`` and behaves exactly as before for those rows.

Text format: columns separated by tabs, rows by newlines, ``\\N`` for NULL, and
backslash, newline, carriage return and tab escaped with a backslash.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from orcheo_storage.jsoncodec import dumps_bytes
from psycopg import AsyncCopy

from orcheo_storage_postgres._rows import jsonb

_NULL = b"\\N"


def _escape(data: bytes) -> bytes:
    if b"\\" in data:
        data = data.replace(b"\\", b"\\\\")
    if b"\n" in data:
        data = data.replace(b"\n", b"\\n")
    if b"\r" in data:
        data = data.replace(b"\r", b"\\r")
    if b"\t" in data:
        data = data.replace(b"\t", b"\\t")
    return data


def copy_text(
    rows: Iterable[Mapping[str, Any]], columns: tuple[str, ...], json_columns: frozenset[str]
) -> bytes | None:
    """The COPY text payload of ``rows`` (``columns`` in order), or ``None`` to fall back.

    ``None`` comes back when a value is of another type than the ones written here, or
    cannot be encoded as UTF-8 (a lone surrogate): ``write_row`` then adapts or refuses
    it exactly as it always did.
    """
    lines: list[bytes] = []
    try:
        for row in rows:
            fields: list[bytes] = []
            for column in columns:
                value = row.get(column)
                kind = type(value)
                if value is None:
                    fields.append(_NULL)
                elif column in json_columns:
                    fields.append(_escape(dumps_bytes(value)))
                elif kind is str:
                    fields.append(_escape(value.encode("utf-8")))
                elif kind is int:
                    fields.append(str(value).encode("ascii"))
                elif kind is bool:
                    fields.append(b"t" if value else b"f")
                else:
                    return None
            lines.append(b"\t".join(fields))
    except UnicodeEncodeError:
        return None
    lines.append(b"")
    return b"\n".join(lines)


async def write_rows(
    writer: AsyncCopy,
    rows: list[dict[str, Any]],
    columns: tuple[str, ...],
    json_columns: frozenset[str],
) -> None:
    """Send ``rows`` to an open COPY: one :func:`copy_text` payload, else ``write_row``."""
    payload = copy_text(rows, columns, json_columns)
    if payload is not None:
        await writer.write(payload)
        return
    for row in rows:
        await writer.write_row(
            tuple(
                (jsonb(row[col]) if row.get(col) is not None else None)
                if col in json_columns
                else row.get(col)
                for col in columns
            )
        )
