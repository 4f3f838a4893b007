"""Helpers shared by the commands: settings from options, error reporting, output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from orcheo_storage.errors import ConfigurationError, StorageError
from orcheo_storage.settings import BACKEND_SETTINGS, StorageSettings, load_settings

# Exit codes: 0 fine, 1 the check found problems, 2 the command could not run (bad settings).
EXIT_PROBLEMS = 1
EXIT_CONFIG = 2

BackendOption = Annotated[
    str | None,
    typer.Option(
        "--backend",
        "-b",
        help="Use this backend for every subsystem (overrides ORCHEO_*_BACKEND).",
        show_default=False,
    ),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Put every SQLite file in this folder (overrides ORCHEO_*_SQLITE_PATH).",
        show_default=False,
        file_okay=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def stdout() -> Console:
    """A console on stdout (built per call so tests capturing stdout see the output)."""
    return Console(highlight=False, soft_wrap=True)


def stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def overrides(backend: str | None, data_dir: Path | None) -> dict[str, Any]:
    """Settings keywords for the ``--backend`` and ``--data-dir`` options."""
    values: dict[str, Any] = {}
    if backend is not None:
        values.update(dict.fromkeys(BACKEND_SETTINGS, backend))
    if data_dir is not None:
        folder = data_dir.expanduser()
        values.update(
            repository_sqlite_path=folder / "workflows.sqlite",
            chatkit_sqlite_path=folder / "chatkit.sqlite",
            vault_local_path=folder / "vault.sqlite",
            auth_service_token_db_path=folder / "service_tokens.sqlite",
        )
    return values


def settings_from_options(
    backend: str | None = None, data_dir: Path | None = None, **extra: Any
) -> StorageSettings:
    """Environment settings with the command's options applied.

    Raises:
        typer.Exit: settings are invalid (message printed, exit code 2).
    """
    with reported_errors():
        return load_settings(**overrides(backend, data_dir), **extra)


def fail(message: str, code: int = EXIT_CONFIG) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    # the message is text (paths may hold "[...]"), never markup
    stderr().print(f"[bold red]error:[/] {escape(message)}", markup=True)
    raise typer.Exit(code)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn storage errors into a one-line message and a non-zero exit (no traceback).

    Configuration and plugin errors exit with 2, other storage errors with 1.
    """
    try:
        yield
    except ConfigurationError as exc:
        fail(str(exc), EXIT_CONFIG)
    except StorageError as exc:
        fail(f"{type(exc).__name__}: {exc}", EXIT_PROBLEMS)


def print_json(data: Any) -> None:
    """Write ``data`` as indented JSON on stdout (plain print: no wrapping, no markup)."""
    typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
