"""What today's Orcheo may store in each legacy column and JSON key, and where each goes.

This is the field-level accounting of the legacy migration, as data: every column of
every legacy table, and every key of every JSON document Orcheo writes there, is listed
with its fate. The keys are those Orcheo's own models allow (they forbid extra fields, so
a payload holds exactly these), older key names included; the examples in the test corpus
are instances of these shapes, not their definition.

Fates:

- ``mapped``: carried into the named target field, value unchanged (timestamps as the
  same instant in UTC).
- ``derived``: the target value is computed from it, as the note says.
- ``mirror``: a copy Orcheo keeps of another legacy field for its own indexes; the field
  it copies is carried, and Orcheo itself reads that one.
- ``dropped``: not carried; the note says why no information is lost.

Anything not listed here (a key a newer Orcheo added, a hand edit) stops the migration
unless the operator names it with ``--allow-loss``. :func:`mapping_table` renders this
module as the mapping table in ``docs/legacy-mapping.md``.
"""

from __future__ import annotations

from collections.abc import Iterator

from orcheo_storage.migration.legacy.fields import Fate, Field, Kind, LegacyTable
from orcheo_storage.migration.legacy.shapes_others import (
    ALERTS,
    ATTACHMENTS,
    CREDENTIALS,
    ITEMS,
    TEMPLATES,
    THREADS,
    TOKEN_AUDIT,
    TOKENS,
)
from orcheo_storage.migration.legacy.shapes_repository import (
    CHECKPOINTS,
    CRONS,
    CURSOR_POSITIONS,
    CURSORS,
    DEDUPE,
    HISTORIES,
    MIRROR_NOTE,
    REMEDIATIONS,
    RETRIES,
    RUNS,
    STEPS,
    SUBSCRIPTIONS,
    VERSIONS,
    WEBHOOKS,
    WORKFLOWS,
)

LEGACY_TABLES: tuple[LegacyTable, ...] = (
    WORKFLOWS,
    VERSIONS,
    RUNS,
    REMEDIATIONS,
    WEBHOOKS,
    CRONS,
    RETRIES,
    SUBSCRIPTIONS,
    CURSORS,
    DEDUPE,
    HISTORIES,
    STEPS,
    CHECKPOINTS,
    THREADS,
    ITEMS,
    ATTACHMENTS,
    TOKENS,
    TOKEN_AUDIT,
    CREDENTIALS,
    TEMPLATES,
    ALERTS,
)
SHAPES: dict[tuple[str, str], LegacyTable] = {(t.file, t.name): t for t in LEGACY_TABLES}


def walk(fields: tuple[Field, ...], prefix: str) -> Iterator[tuple[str, Field]]:
    """Every field with its path (``payload.health.status``, ``payload.audit_log[].at``)."""
    for field in fields:
        path = f"{prefix}.{field.name}" if prefix else field.name
        yield path, field
        inner = f"{path}[]" if field.kind is Kind.OBJECTS else path
        yield from walk(field.fields, inner)


def mapping_table() -> str:
    """The accounting as a Markdown table, one row per legacy column or JSON key."""
    lines = [
        "| legacy file | table | column or JSON key | fate | target | note |",
        "|---|---|---|---|---|---|",
    ]
    files = {
        "repository": "workflows.sqlite",
        "chatkit": "chatkit.sqlite",
        "tokens": "service_tokens.sqlite",
        "vault": "vault.sqlite",
    }
    for table in LEGACY_TABLES:
        for path, field in walk(table.columns, ""):
            to = field.to if field.fate is not Fate.MIRROR else f"(copy of `{field.to}`)"
            note = field.note or (MIRROR_NOTE if field.fate is Fate.MIRROR else "")
            lines.append(
                f"| {files[table.file]} | {table.name} | `{path}` | {field.fate.value} "
                f"| {f'`{to}`' if to and field.fate is not Fate.MIRROR else to} | {note} |"
            )
    return "\n".join(lines) + "\n"


__all__ = [
    "CURSOR_POSITIONS",
    "LEGACY_TABLES",
    "SHAPES",
    "Fate",
    "Field",
    "Kind",
    "LegacyTable",
    "mapping_table",
    "walk",
]
