"""A throwaway PgBouncer in transaction mode in front of the test server.

Used by the tests (the ``pgbouncer`` fixture) and by ``scripts/test.sh``, which runs the
contract suite through it::

    eval "$(python -m orcheo_storage_postgres.testing_pgbouncer start)"   # sets PGBOUNCER_*
    ...
    kill "$PGBOUNCER_PID"

It listens on a free loopback port, runs as an unprivileged user (``nobody`` when started
by root: PgBouncer refuses to run as root), keeps its configuration, password file, log
and pid file in its own temporary folder, and is stopped by its pid. Clients log in with a
password (SCRAM) as one of two roles created on the server for the purpose, both with a
non-UTC default time zone:

* ``orcheo_bouncer``: its default ``search_path`` names a schema that does not exist, so
  any statement that does not name its schema fails instead of landing in ``public``
  (what ``ORCHEO_POSTGRES_SCHEMA`` runs use);
* ``orcheo_bouncer_plain``: the server's default ``search_path`` (runs without a schema
  setting, where each test gets a database of its own).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from orcheo_storage_postgres.testing import free_port, server_dsn

SCHEMA_ROLE = "orcheo_bouncer"
PLAIN_ROLE = "orcheo_bouncer_plain"
DECOY_SCHEMA = "orcheo_no_such_schema"
TIME_ZONE = "Pacific/Chatham"  # +12:45 / +13:45: nothing looks right by accident
HOW_TO = (
    "PgBouncer is not installed: install Debian's pgbouncer (apt-get install pgbouncer, "
    "or bash scripts/ensure-pgbouncer.sh as root)."
)


class NoPgBouncer(RuntimeError):
    """PgBouncer is not installed or did not start."""


@dataclass
class PgBouncer:
    """A running PgBouncer: its pid, folder and the client DSNs."""

    pid: int
    folder: Path
    port: int
    password: str

    def dsn(self, role: str = SCHEMA_ROLE, dbname: str = "postgres") -> str:
        return f"postgresql://{role}:{self.password}@127.0.0.1:{self.port}/{dbname}"

    def stop(self) -> None:
        """Stop PgBouncer by its pid and remove its folder."""
        stop(self.pid)
        shutil.rmtree(self.folder, ignore_errors=True)


def binary() -> str:
    """The pgbouncer executable. Raises ``NoPgBouncer`` when it is not installed."""
    found = shutil.which("pgbouncer") or (
        "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None
    )
    if found is None:
        raise NoPgBouncer(HOW_TO)
    return found


def _create_roles(upstream: str) -> None:
    with psycopg.connect(upstream, autocommit=True) as conn:
        for role, path in ((SCHEMA_ROLE, DECOY_SCHEMA), (PLAIN_ROLE, None)):
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            if not exists:
                # another process may win the race to create it
                with contextlib.suppress(psycopg.errors.DuplicateObject):
                    conn.execute(
                        sql.SQL("CREATE ROLE {} LOGIN SUPERUSER").format(sql.Identifier(role))
                    )
            conn.execute(
                sql.SQL("ALTER ROLE {} SET timezone = {}").format(
                    sql.Identifier(role), sql.Literal(TIME_ZONE)
                )
            )
            if path is not None:
                conn.execute(
                    sql.SQL("ALTER ROLE {} SET search_path = {}").format(
                        sql.Identifier(role), sql.Identifier(path)
                    )
                )


def start(upstream: str | None = None) -> PgBouncer:
    """Start PgBouncer in front of ``upstream`` (default: the test server).

    Raises:
        NoPgBouncer: not installed, or it did not start.
    """
    executable = binary()
    upstream = upstream or server_dsn()
    _create_roles(upstream)
    params = conninfo_to_dict(upstream)
    host, server_port = params.get("host") or "127.0.0.1", params.get("port") or "5432"
    folder = Path(tempfile.mkdtemp(prefix="orcheo-pgbouncer-"))
    port, password = free_port(), secrets.token_urlsafe(12)
    (folder / "userlist.txt").write_text(
        "".join(f'"{role}" "{password}"\n' for role in (SCHEMA_ROLE, PLAIN_ROLE))
    )
    (folder / "pgbouncer.ini").write_text(
        f"""[databases]
* = host={host} port={server_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {folder}/userlist.txt
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 20
max_user_connections = 20
server_idle_timeout = 10
logfile = {folder}/pgbouncer.log
pidfile = {folder}/pgbouncer.pid
"""
    )
    user = _unprivileged()
    if user is not None:
        os.chown(folder, user[0], user[1])
        for child in folder.iterdir():
            os.chown(child, user[0], user[1])
    subprocess.run(
        [executable, "-d", str(folder / "pgbouncer.ini")],
        check=False,
        capture_output=True,
        timeout=30,
        user=None if user is None else user[0],
        group=None if user is None else user[1],
    )
    bouncer = PgBouncer(_wait_for_pid(folder), folder, port, password)
    deadline = time.monotonic() + 15
    while True:
        try:
            with psycopg.connect(bouncer.dsn(PLAIN_ROLE), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return bouncer
        except psycopg.Error as exc:
            if time.monotonic() > deadline:
                log = (folder / "pgbouncer.log").read_text(errors="replace")[-2000:]
                bouncer.stop()
                raise NoPgBouncer(f"PgBouncer did not answer: {exc}\n{log}") from None
            time.sleep(0.2)


def _unprivileged() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    import pwd

    entry = pwd.getpwnam("nobody")
    return entry.pw_uid, entry.pw_gid


def _wait_for_pid(folder: Path) -> int:
    pidfile = folder / "pgbouncer.pid"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if pidfile.exists() and pidfile.read_text().strip().isdigit():
            return int(pidfile.read_text().strip())
        time.sleep(0.05)
    log = folder / "pgbouncer.log"
    text = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    shutil.rmtree(folder, ignore_errors=True)
    raise NoPgBouncer(f"PgBouncer did not start\n{text}")


def stop(pid: int) -> None:
    """Stop the PgBouncer with this pid (SIGINT: close connections and exit) and wait."""
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def main(argv: list[str]) -> int:
    """``start`` prints shell assignments (PGBOUNCER_PID, _DIR, _DSN, _PLAIN_DSN);
    ``stop PID [DIR]`` stops it and removes its folder."""
    if argv[:1] == ["start"]:
        try:
            bouncer = start()
        except NoPgBouncer as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(
            f"PGBOUNCER_PID={bouncer.pid}; PGBOUNCER_DIR={bouncer.folder}; "
            f"PGBOUNCER_DSN={bouncer.dsn(SCHEMA_ROLE)}; "
            f"PGBOUNCER_PLAIN_DSN={bouncer.dsn(PLAIN_ROLE)}"
        )
        return 0
    if len(argv) in (2, 3) and argv[0] == "stop" and argv[1].isdigit():
        stop(int(argv[1]))
        if len(argv) == 3 and Path(argv[2]).name.startswith("orcheo-pgbouncer-"):
            shutil.rmtree(argv[2], ignore_errors=True)
        return 0
    print("usage: python -m orcheo_storage_postgres.testing_pgbouncer start | stop PID [DIR]")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
