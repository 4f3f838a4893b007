"""Settings that used to be accepted and misbehave later: each is refused at start-up, naming
the ORCHEO_ variable and never echoing a secret (issue 13)."""

from __future__ import annotations

import logging
import os

import pytest
from orcheo_storage.errors import ConfigurationError
from orcheo_storage.settings import load_settings

CANARY = "canary-Pw-7731"

# Every malformed DSN shape that made libpq (and so psycopg and its pool) echo the password.
MALFORMED_DSNS = {
    "driver suffix in the scheme": f"postgresql+psycopg://orcheo:{CANARY}@127.0.0.1:5432/db",
    "another database's scheme": f"mysql://orcheo:{CANARY}@127.0.0.1:3306/db",
    "upper-case scheme": f"POSTGRESQL://orcheo:{CANARY}@127.0.0.1/db",
    "bad percent escape": f"postgresql://orcheo:{CANARY}%zz@127.0.0.1/db",
    "percent-encoded NUL": f"postgresql://orcheo:{CANARY}%00@127.0.0.1/db",
    "unescaped @ in the password": f"postgresql://orcheo:{CANARY}@x@127.0.0.1/db",
    "unescaped / in the password": f"postgresql://orcheo:{CANARY}/x@127.0.0.1/db",
    "bad escape in a query password": f"postgresql://orcheo@127.0.0.1/db?password={CANARY}%g1",
    "second = in a query password": f"postgresql://orcheo@127.0.0.1/db?password={CANARY}=x",
    "unterminated IPv6 address": f"postgresql://orcheo:{CANARY}@[::1/db",
    "no scheme, not key=value": f"orcheo:{CANARY}@127.0.0.1/db",
    "unquoted space in a key=value password": f"host=127.0.0.1 password=x {CANARY} dbname=db",
    "unterminated quote": f"host=127.0.0.1 password='{CANARY} dbname=db",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("ORCHEO_"):
            monkeypatch.delenv(name)


def config_error(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as info:
        load_settings()
    assert info.value.__cause__ is None
    assert info.value.__context__ is None
    return str(info.value)


# --- ORCHEO_POSTGRES_SCHEMA -------------------------------------------------------------------


@pytest.mark.parametrize(
    "schema", ["TenantA", "tenantA", "Public", "tenant-a", "1tenant", "x" * 64, "tenant a", ""]
)
def test_schema_names_that_need_quoting_are_refused(
    monkeypatch: pytest.MonkeyPatch, schema: str
) -> None:
    message = config_error(monkeypatch, ORCHEO_POSTGRES_SCHEMA=schema)
    assert "ORCHEO_POSTGRES_SCHEMA" in message
    assert "lower case" in message


@pytest.mark.parametrize(
    "schema", ["information_schema", "pg_catalog", "pg_toast", "pg_temp", "pg_x"]
)
def test_reserved_schemas_are_refused(monkeypatch: pytest.MonkeyPatch, schema: str) -> None:
    message = config_error(monkeypatch, ORCHEO_POSTGRES_SCHEMA=schema)
    assert "ORCHEO_POSTGRES_SCHEMA" in message
    assert "reserved" in message


@pytest.mark.parametrize("schema", ["tenant_a", "public", "_t1", "orcheo", "x" * 63, "select"])
def test_plain_schema_names_are_accepted(monkeypatch: pytest.MonkeyPatch, schema: str) -> None:
    monkeypatch.setenv("ORCHEO_POSTGRES_SCHEMA", schema)
    assert load_settings().postgres_schema == schema


# --- ORCHEO_POSTGRES_DSN ------------------------------------------------------------------------


@pytest.mark.parametrize("dsn", ["", "   "])
def test_an_empty_dsn_means_unset(monkeypatch: pytest.MonkeyPatch, dsn: str) -> None:
    monkeypatch.setenv("ORCHEO_POSTGRES_DSN", dsn)
    settings = load_settings()
    assert settings.postgres_dsn is None
    assert settings.redacted()["postgres_dsn"] is None
    message = config_error(monkeypatch, ORCHEO_REPOSITORY_BACKEND="postgres")
    assert "ORCHEO_POSTGRES_DSN is required" in message


@pytest.mark.parametrize("dsn", MALFORMED_DSNS.values(), ids=MALFORMED_DSNS.keys())
def test_malformed_dsns_are_refused_without_echoing_them(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, dsn: str
) -> None:
    caplog.set_level(logging.DEBUG)
    message = config_error(
        monkeypatch, ORCHEO_POSTGRES_DSN=dsn, ORCHEO_REPOSITORY_BACKEND="postgres"
    )
    assert "ORCHEO_POSTGRES_DSN" in message
    assert CANARY not in message
    assert "orcheo" not in message.replace("ORCHEO_", "")  # no part of the DSN at all
    assert all(CANARY not in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://orcheo:pw@db.example:5432/orcheo?sslmode=verify-full",
        "postgres://orcheo@db.example/orcheo",
        "postgresql://orcheo:p%40ss%2Fw@db.example/orcheo",
        "postgresql://orcheo:pa#ss@db.example/orcheo",
        "postgresql://[::1]:5432,db2.example:5433/orcheo?target_session_attrs=read-write&",
        "postgresql:///orcheo?host=/var/run/postgresql",
        "host=db.example port=5432 user=orcheo password='with space' dbname=orcheo",
        "host = db.example password=a\\ b dbname=orcheo",
    ],
)
def test_well_formed_dsns_are_accepted(monkeypatch: pytest.MonkeyPatch, dsn: str) -> None:
    monkeypatch.setenv("ORCHEO_POSTGRES_DSN", dsn)
    settings = load_settings(repository_backend="postgres")
    assert settings.dsn() == dsn


# --- numbers, key ids, paths ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ORCHEO_POSTGRES_POOL_TIMEOUT", "inf"),
        ("ORCHEO_POSTGRES_POOL_TIMEOUT", "nan"),
        ("ORCHEO_POSTGRES_POOL_TIMEOUT", "1e308"),
        ("ORCHEO_POSTGRES_POOL_MAX_IDLE", "inf"),
        ("ORCHEO_POSTGRES_PREPARE_THRESHOLD", "-1"),
        ("ORCHEO_SQLITE_BUSY_TIMEOUT_MS", str(2**70)),
        ("ORCHEO_SQLITE_BUSY_TIMEOUT_MS", str(2**31)),
        ("ORCHEO_VAULT_KEY_ID", ""),
        ("ORCHEO_VAULT_KEY_ID", "  "),
        ("ORCHEO_VAULT_KEY_ID", "a\nb"),
        ("ORCHEO_VAULT_ENCRYPTION_KEY", ""),
        ("ORCHEO_VAULT_ENCRYPTION_KEY", "   "),
        ("ORCHEO_REPOSITORY_SQLITE_PATH", ""),
        ("ORCHEO_CHATKIT_SQLITE_PATH", "   "),
    ],
)
def test_out_of_range_values_name_their_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    assert variable in config_error(monkeypatch, **{variable: value})


def test_a_nul_byte_in_a_sqlite_path_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="ORCHEO_VAULT_LOCAL_PATH") as info:
        load_settings(vault_local_path="/tmp/vault\x00.sqlite")
    assert "NUL" in str(info.value)


def test_an_empty_token_db_path_means_beside_the_repository(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORCHEO_AUTH_SERVICE_TOKEN_DB_PATH", "")
    assert load_settings().auth_service_token_db_path is None


def test_pool_max_below_min_names_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    message = config_error(
        monkeypatch, ORCHEO_POSTGRES_POOL_MIN_SIZE="5", ORCHEO_POSTGRES_POOL_MAX_SIZE="2"
    )
    assert "ORCHEO_POSTGRES_POOL_MAX_SIZE (2) is below ORCHEO_POSTGRES_POOL_MIN_SIZE (5)" in message


def test_the_prepare_threshold_can_still_be_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHEO_POSTGRES_PREPARE_THRESHOLD", "none")
    assert load_settings().postgres_prepare_threshold is None
    monkeypatch.setenv("ORCHEO_POSTGRES_PREPARE_THRESHOLD", "0")
    assert load_settings().postgres_prepare_threshold == 0
