"""Fresh virtual environments for tests that install the distributions as users do
(``test_discovery``, ``test_wheels``); holds no tests.

Imported by name (``pythonpath`` in the workspace's pytest configuration).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
UV = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")


class Venv:
    """A fresh virtual environment in ``path``, with helpers to install into and run it.

    Made by ``uv venv`` (quick, no pip inside; install with :meth:`install`) or, with
    ``pip=True``, by ``python -m venv`` as a user makes one (install with :meth:`pip`).
    """

    def __init__(self, path: Path, home: Path, *, pip: bool = False) -> None:
        self.path = path
        self.home = home  # HOME of every process, so nothing touches the real ~/.orcheo
        home.mkdir(parents=True, exist_ok=True)
        if pip:
            command = [sys.executable, "-m", "venv", str(path)]
        else:
            command = [UV, "venv", "-q", "--python", sys.executable, str(path)]
        subprocess.run(command, check=True, timeout=300)

    @property
    def python(self) -> str:
        return str(self.path / "bin" / "python")

    def script(self, name: str) -> str:
        return str(self.path / "bin" / name)

    def install(self, *requirements: str | Path) -> None:
        """Install with uv from its cache when it holds everything (works offline), else
        from PyPI."""
        command = [UV, "pip", "install", "-q", "--python", self.python, *map(str, requirements)]
        cached = subprocess.run([*command, "--offline"], capture_output=True, timeout=300)
        if cached.returncode != 0:
            subprocess.run(command, check=True, timeout=300)

    def pip(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """``python -m pip ARGS`` in this environment, isolated from the machine's pip
        configuration (no config files, no ``PIP_*`` variables), so that an index or a
        find-links folder configured there cannot supply a package."""
        env = {k: v for k, v in self.env({}).items() if not k.startswith("PIP_")}
        env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
        return subprocess.run(
            [self.python, "-m", "pip", *args],
            capture_output=True, text=True, env=env, timeout=timeout, check=False,
        )  # fmt: skip

    def installed(self) -> dict[str, str]:
        """Distribution name -> version of everything installed (``pip list``)."""
        listed = self.pip("list", "--format", "json")
        assert listed.returncode == 0, listed.stderr
        return {row["name"].lower(): row["version"] for row in json.loads(listed.stdout)}

    def env(self, extra: Mapping[str, str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCHEO_", "VIRTUAL_ENV"))}
        env.update(HOME=str(self.home), **extra)
        return env

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args), capture_output=True, text=True, env=self.env(env), timeout=300, check=False
        )

    def cli(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """The installed ``orcheo-storage`` script."""
        return self.run(self.script("orcheo-storage"), *args, **env)

    def backends(self, **env: str) -> tuple[int, dict[str, dict[str, Any]]]:
        done = self.cli("backends", "--json", **env)
        return done.returncode, {row["name"]: row for row in json.loads(done.stdout)}
