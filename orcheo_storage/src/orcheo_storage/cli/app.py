"""The ``orcheo-storage`` application: one Typer app, one ``register`` call per command module.

To add a command, write ``cli/<name>.py`` with ``def register(app: typer.Typer) -> None`` and
add it to :func:`_register` below.

Start-up is kept short: the console script (:func:`main`) imports only the module of the
command it runs (``orcheo-storage backends`` never imports the migration engine, the demo's
models or any backend it does not list); ``--help``, no arguments or an unknown command
build the whole application. ``app`` (all commands) is built on first access.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    app: typer.Typer

HELP = "Orcheo storage: inspect backend plugins, check settings, migrate schemas, run the demo."
COMMANDS = ("backends", "doctor", "migrate-schema", "demo", "migrate", "contract-test")
"""Top-level command names, in the order ``--help`` lists them."""


def _print_version(value: bool) -> None:
    if value:
        from orcheo_storage.plugins.distributions import storage_distributions

        for dist in storage_distributions():
            typer.echo(dist.describe())
        raise typer.Exit()


def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print every installed Orcheo storage distribution and its version, then exit.",
        ),
    ] = False,
) -> None:
    """Orcheo storage: inspect backend plugins, check settings, migrate schemas, run the demo."""


def _register(app: typer.Typer, only: str | None) -> None:
    """Register every command (``only=None``) or just the one named ``only``."""

    def wanted(name: str) -> bool:
        return only is None or only == name

    if wanted("backends"):
        from orcheo_storage.cli import backends

        backends.register(app)
    if wanted("doctor"):
        from orcheo_storage.cli import doctor

        doctor.register(app)
    if wanted("migrate-schema"):
        from orcheo_storage.cli import schema

        schema.register(app)
    if wanted("demo"):
        from orcheo_storage.cli import demo

        demo.register(app)
    if wanted("migrate"):
        from orcheo_storage.cli import migrate, migrate_sync

        if not any(c.name == "sync" for c in migrate.migrate_app.registered_commands):
            migrate_sync.register(migrate.migrate_app)
        migrate.register(app)
    if wanted("contract-test"):
        from orcheo_storage.cli import contract

        contract.register(app)


def build_app(only: str | None = None) -> typer.Typer:
    """The application with every command, or with only the command ``only``."""
    built = typer.Typer(
        name="orcheo-storage",
        help=HELP,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    built.callback()(_root)
    _register(built, only)
    return built


VERSION_ONLY = ""
"""``_command`` of a bare ``--version``: no command module is needed."""


def _command(argv: list[str]) -> str | None:
    """The command ``argv`` runs when it is one of :data:`COMMANDS` (options of the root,
    ``--version`` and ``--help``, take no value, so it is the first non-option argument);
    :data:`VERSION_ONLY` for ``--version`` alone; ``None`` (every command) otherwise."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return VERSION_ONLY if argv == ["--version"] else None


def __getattr__(name: str) -> Any:
    if name == "app":
        full = build_app()
        globals()["app"] = full
        return full
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Console-script entry point."""
    build_app(_command(sys.argv[1:]))()


if __name__ == "__main__":
    main()
