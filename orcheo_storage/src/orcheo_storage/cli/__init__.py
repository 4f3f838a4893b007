"""The ``orcheo-storage`` command line (typer and rich are core dependencies, imported only here).

Each command lives in its own module exposing ``register(app)``; :mod:`.app` wires them.
"""
