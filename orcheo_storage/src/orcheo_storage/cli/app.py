"""The ``orcheo-storage`` application: one Typer app, one ``register`` call per command module.

To add a command, write ``cli/<name>.py`` with ``def register(app: typer.Typer) -> None`` and
add one line below.
"""

from __future__ import annotations

from typing import Annotated

import typer

from orcheo_storage.cli import backends, contract, demo, doctor, migrate, migrate_sync, schema

app = typer.Typer(
    name="orcheo-storage",
    help="Orcheo storage: inspect backend plugins, check settings, migrate schemas, run the demo.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from orcheo_storage.plugins.distributions import storage_distributions

        for dist in storage_distributions():
            typer.echo(dist.describe())
        raise typer.Exit()


@app.callback()
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


backends.register(app)
doctor.register(app)
schema.register(app)
demo.register(app)
migrate_sync.register(migrate.migrate_app)
migrate.register(app)
contract.register(app)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
