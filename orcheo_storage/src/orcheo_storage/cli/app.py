"""The ``orcheo-storage`` application: one Typer app, one ``register`` call per command module.

To add a command, write ``cli/<name>.py`` with ``def register(app: typer.Typer) -> None`` and
add one line below.
"""

from __future__ import annotations

import typer

from orcheo_storage.cli import backends, contract, demo, doctor, migrate, migrate_sync, schema

app = typer.Typer(
    name="orcheo-storage",
    help="Orcheo storage: inspect backend plugins, check settings, migrate schemas, run the demo.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

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
