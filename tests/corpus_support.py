"""Copies of the legacy corpus (SQLite files Orcheo itself wrote) and the command line.

Imported by name (``pythonpath`` in the workspace's pytest configuration). The corpus is
in ``tests/fixtures/legacy-corpus`` (copied from ``shared/legacy-corpus``); tests always
work on copies, since even a read-only open of a WAL file may create side files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from orcheo_storage.cli.app import app
from typer.testing import CliRunner

CORPUS = Path(__file__).resolve().parent / "fixtures" / "legacy-corpus"
VARIANTS = ("v-current", "v-old")
CORPUS_KEY = "dev-corpus-key-change-me"  # the corpus README's vault key (test data only)
PG_DSN = os.environ.get("ORCHEO_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
NAMES = ["workflows.sqlite", "chatkit.sqlite", "service_tokens.sqlite", "vault.sqlite"]


def clean_orcheo_env(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """No ORCHEO_* variable of the developer's shell; default paths under ``home``."""
    for name in list(os.environ):
        if name.startswith("ORCHEO_") and name != "ORCHEO_TEST_POSTGRES_DSN":
            monkeypatch.delenv(name)
    for setting, name in (
        ("ORCHEO_REPOSITORY_SQLITE_PATH", "workflows.sqlite"),
        ("ORCHEO_CHATKIT_SQLITE_PATH", "chatkit.sqlite"),
        ("ORCHEO_VAULT_LOCAL_PATH", "vault.sqlite"),
    ):
        monkeypatch.setenv(setting, str(home / name))


def run(*args: str) -> Any:
    """``orcheo-storage ARGS`` in this process (typer's runner); exceptions propagate."""
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def snapshot(folder: Path) -> dict[str, str]:
    """Every file of ``folder`` by name with its SHA-256 (new side files show up as keys)."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def corpus_copy(variant: str, folder: Path, names: list[str] | None = None) -> Path:
    """The corpus files of ``variant`` (or only ``names``) copied into a new ``folder``."""
    folder.mkdir(parents=True)
    for source in sorted((CORPUS / variant).glob("*.sqlite")):
        if names is None or source.name in names:
            shutil.copyfile(source, folder / source.name)
    return folder


def expected(variant: str) -> dict[str, Any]:
    """The corpus's ground truth (``expected.json``) of ``variant``."""
    data: dict[str, Any] = json.loads((CORPUS / variant / "expected.json").read_text("utf-8"))
    return data
