#!/usr/bin/env bash
# Quick start 2: set up the workspace and run every check and test.
#   lint (ruff), types (mypy strict), unit and integration tests of every distribution,
#   and the contract suite on the memory, sqlite and postgres backends (real PostgreSQL).
#   The contract suite also runs on PostgreSQL through PgBouncer in transaction mode, with a
#   schema setting (a schema per test) and without (a database per test).
# A PostgreSQL server is required: scripts/ensure-postgres.sh starts or installs one;
# scripts/ensure-pgbouncer.sh installs Debian's pgbouncer (the tests run their own instance).
source "$(dirname "${BASH_SOURCE[0]}")/_bootstrap.sh"
bash scripts/ensure-postgres.sh
bash scripts/ensure-pgbouncer.sh
export ORCHEO_TEST_REQUIRE_POSTGRES=1
PY=(uv run --no-sync)
SUITE=contract_tests/src/orcheo_storage_contract_tests/suite
stage() { echo; echo "==> $*"; }
SECONDS=0
stage "ruff"; "${PY[@]}" ruff check . && "${PY[@]}" ruff format --check .
stage "mypy (strict)"; "${PY[@]}" mypy orcheo_storage/src orcheo_storage_sqlite/src orcheo_storage_postgres/src contract_tests/src
for tests in orcheo_storage/tests orcheo_storage_sqlite/tests orcheo_storage_postgres/tests contract_tests/tests tests; do
    stage "tests: $tests"; "${PY[@]}" pytest "$tests" "$@"
done
PG_DSN="${ORCHEO_TEST_POSTGRES_DSN:-postgresql://postgres@127.0.0.1:5432/postgres}"
# backend:compare-backend pairs for the differential test (PostgreSQL is compared with SQLite).
for pair in memory:sqlite sqlite:memory postgres:sqlite; do
    backend="${pair%%:*}"; compare="${pair##*:}"
    stage "contract suite on $backend (differential against $compare)"
    "${PY[@]}" pytest -p orcheo_storage_contract_tests.plugin --orcheo-backend="$backend" \
        --orcheo-compare-backend="$compare" --orcheo-setting "postgres_dsn=$PG_DSN" \
        --orcheo-report=".orcheo-test/conformance-$backend.json" "$SUITE"
done
# PgBouncer (transaction pooling): started on a free loopback port, stopped by its pid on exit.
bouncer="$("${PY[@]}" python -m orcheo_storage_postgres.testing_pgbouncer start)"
eval "$bouncer"
trap '"${PY[@]}" python -m orcheo_storage_postgres.testing_pgbouncer stop "$PGBOUNCER_PID" "$PGBOUNCER_DIR"' EXIT
BOUNCED=(--orcheo-backend=postgres --orcheo-compare-backend=sqlite
         --orcheo-setting postgres_prepare_threshold=none)
stage "contract suite on postgres through PgBouncer, ORCHEO_POSTGRES_SCHEMA set (schema per test)"
"${PY[@]}" pytest -p orcheo_storage_contract_tests.plugin "${BOUNCED[@]}" \
    --orcheo-setting "postgres_dsn=$PGBOUNCER_DSN" \
    --orcheo-report=.orcheo-test/conformance-postgres-pgbouncer-schema.json "$SUITE"
stage "contract suite on postgres through PgBouncer, no schema setting (database per test)"
ORCHEO_TEST_POSTGRES_NAMESPACE=database "${PY[@]}" pytest -p orcheo_storage_contract_tests.plugin \
    "${BOUNCED[@]}" --orcheo-setting "postgres_dsn=$PGBOUNCER_PLAIN_DSN" \
    --orcheo-report=.orcheo-test/conformance-postgres-pgbouncer-database.json "$SUITE"
echo; echo "==> all checks passed in ${SECONDS}s"
