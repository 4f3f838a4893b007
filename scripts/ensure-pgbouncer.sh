#!/usr/bin/env bash
# Make sure Debian's pgbouncer is installed. The tests run their own PgBouncer (transaction
# mode, free loopback port, unprivileged user, own folder; orcheo_storage_postgres.testing_pgbouncer),
# never the system service.
set -euo pipefail
installed() { command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ]; }
if installed; then echo "==> PgBouncer is installed" >&2; exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing PgBouncer from Debian packages" >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >&2
    installed && { echo "==> PgBouncer installed" >&2; exit 0; }
fi
echo "ERROR: pgbouncer is not installed and could not be installed (apt-get install pgbouncer as root)." >&2
exit 1
