"""How tests and the contract suite reach a real PostgreSQL server.

Order: ``ORCHEO_TEST_POSTGRES_DSN`` when set; else 127.0.0.1:5432 when it answers
(user ``postgres``, trust auth); else a throwaway cluster started from the local
PostgreSQL binaries (``initdb``/``pg_ctl``) in a temporary directory on a free port;
else :class:`NoPostgres` with instructions.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
HOW_TO = (
    "No PostgreSQL server for the tests. Set ORCHEO_TEST_POSTGRES_DSN to a server's DSN, "
    "run one on 127.0.0.1:5432 (user postgres, trust auth), or install the PostgreSQL "
    "server binaries (initdb, pg_ctl; e.g. apt-get install postgresql) so a throwaway "
    "cluster can be started."
)


class NoPostgres(RuntimeError):
    """No server could be found or started."""


def answers(dsn: str, timeout: float = 2.0) -> bool:
    """Whether a server accepts a connection at ``dsn``."""
    try:
        with psycopg.connect(dsn, connect_timeout=max(1, int(timeout))) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pg_bin_dir() -> Path | None:
    """The newest local PostgreSQL binary directory holding ``initdb`` and ``pg_ctl``."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
    )
    for directory in reversed(candidates):
        if (Path(directory) / "initdb").exists() and (Path(directory) / "pg_ctl").exists():
            return Path(directory)
    return None


@dataclass
class Cluster:
    """A throwaway PostgreSQL cluster owned by this process."""

    bin_dir: Path
    data_dir: Path
    port: int
    log_file: Path

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), *args],
            check=True,
            capture_output=True,
            timeout=60,
            user=_as_postgres_user().get("user"),
            group=_as_postgres_user().get("group"),
        )

    def start(self) -> None:
        self._pg_ctl(
            "-l",
            str(self.log_file),
            "-w",
            "-t",
            "30",
            "-o",
            f"-p {self.port} -k {self.data_dir} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("-m", mode, "-w", "-t", "30", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self.stop("immediate")
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)


def _as_postgres_user() -> dict[str, int]:
    """PostgreSQL refuses to run as root: drop to the ``postgres`` user when we are root."""
    if os.geteuid() != 0:
        return {}
    import pwd

    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        raise NoPostgres("running as root and there is no 'postgres' user to run initdb") from None
    return {"user": entry.pw_uid, "group": entry.pw_gid}


def start_cluster() -> Cluster:
    """Create and start a throwaway cluster on a free port (the caller destroys it).

    Raises:
        NoPostgres: no local binaries, or the cluster did not start.
    """
    bin_dir = pg_bin_dir()
    if bin_dir is None:
        raise NoPostgres(HOW_TO)
    root = Path(tempfile.mkdtemp(prefix="orcheo-pg-"))
    data = root / "data"
    opts = _as_postgres_user()
    if opts:
        os.chown(root, opts["user"], opts["group"])
    try:
        subprocess.run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
            timeout=120,
            user=opts.get("user"),
            group=opts.get("group"),
        )
        cluster = Cluster(bin_dir, data, free_port(), root / "server.log")
        cluster.start()
    except (subprocess.SubprocessError, OSError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        raise NoPostgres(f"could not start a throwaway cluster ({exc}). {HOW_TO}") from exc
    return cluster


_started: Cluster | None = None


def server_dsn() -> str:
    """A DSN of a reachable server, starting a throwaway cluster as the last resort.

    Raises:
        NoPostgres: nothing answers and no cluster could be started.
    """
    global _started
    explicit = os.environ.get("ORCHEO_TEST_POSTGRES_DSN")
    if explicit:
        if not answers(explicit, timeout=5):
            raise NoPostgres("ORCHEO_TEST_POSTGRES_DSN is set but the server does not answer")
        return explicit
    if answers(DEFAULT_DSN):
        return DEFAULT_DSN
    if _started is None:
        _started = start_cluster()
        atexit.register(_started.destroy)
        deadline = time.monotonic() + 30
        while not answers(_started.dsn) and time.monotonic() < deadline:
            time.sleep(0.2)
    return _started.dsn


def must_run() -> bool:
    """In CI (``CI=true``) missing PostgreSQL is a failure, never a skip."""
    return os.environ.get("CI", "").lower() == "true"
