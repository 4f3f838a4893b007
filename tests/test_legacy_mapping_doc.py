"""The published mapping table is the accounting the migration checks rows against."""

from __future__ import annotations

from pathlib import Path

from orcheo_storage.migration.legacy.accounting import MAPPING_DOC
from orcheo_storage.migration.legacy.shapes import LEGACY_TABLES, Fate, mapping_table, walk

DOC = Path(__file__).resolve().parents[1] / MAPPING_DOC


def test_the_document_holds_the_generated_table() -> None:
    text = DOC.read_text(encoding="utf-8")
    table = mapping_table()
    assert text.endswith(table), "regenerate docs/legacy-mapping.md (command in its header)"


def test_every_dropped_or_derived_field_says_why() -> None:
    for table in LEGACY_TABLES:
        for path, field in walk(table.columns, ""):
            if field.fate in (Fate.DROPPED, Fate.DERIVED):
                assert field.note, f"{table.name}.{path} needs a reason"
            if field.fate is Fate.MAPPED:
                assert field.to or field.note, f"{table.name}.{path} maps nowhere"
