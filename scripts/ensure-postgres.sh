#!/usr/bin/env bash
# Make sure a PostgreSQL server answers at 127.0.0.1:5432 (or ORCHEO_TEST_POSTGRES_DSN is set).
# Order: already running -> start the local cluster -> install Debian's postgresql and start it.
set -euo pipefail
if [ -n "${ORCHEO_TEST_POSTGRES_DSN:-}" ]; then
    echo "==> using ORCHEO_TEST_POSTGRES_DSN" >&2; exit 0
fi
ready() { command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432; }
if ready; then echo "==> PostgreSQL answers on 127.0.0.1:5432" >&2; exit 0; fi
start_cluster() {
    if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
        for version in $(ls /etc/postgresql); do
            pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
        done
    fi
    for _ in $(seq 1 30); do ready && return 0; sleep 1; done
    return 1
}
echo "==> PostgreSQL not answering; trying to start the local cluster" >&2
if start_cluster; then echo "==> PostgreSQL started" >&2; exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing PostgreSQL from Debian packages" >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    # The test suites connect as "postgres" over TCP without a password: allow that on loopback only.
    for hba in /etc/postgresql/*/main/pg_hba.conf; do
        sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
    done
    for version in $(ls /etc/postgresql); do
        pg_ctlcluster --skip-systemctl-redirect "$version" main reload 2>/dev/null || true
    done
    start_cluster && { echo "==> PostgreSQL installed and started" >&2; exit 0; }
fi
echo "ERROR: no PostgreSQL server at 127.0.0.1:5432 and none could be started." >&2
echo "Set ORCHEO_TEST_POSTGRES_DSN=postgresql://user@host:port/db or install PostgreSQL." >&2
exit 1
