"""The ``orcheo-storage`` command line (needs the ``cli`` extra: typer and rich).

Each command lives in its own module exposing ``register(app)``; :mod:`.app` wires them.
"""
