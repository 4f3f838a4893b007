"""Settings: ORCHEO_ names, start-up errors a user sees, and DSN redaction."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from orcheo_storage.errors import ConfigurationError
from orcheo_storage.protocols.backend import Subsystem
from orcheo_storage.settings import BACKEND_SETTINGS, StorageSettings, load_settings, redact_dsn

CANARY = "canary-Pw-7731"
DSNS = [
    f"postgresql://orcheo:{CANARY}@db.example:5432/orcheo",
    f"postgresql://orcheo@db.example:5432/orcheo?sslmode=require&password={CANARY}",
    f"host=db.example port=5432 user=orcheo password={CANARY} dbname=orcheo",
]
BACKEND_VARS = [
    "ORCHEO_REPOSITORY_BACKEND",
    "ORCHEO_CHECKPOINT_BACKEND",
    "ORCHEO_CHATKIT_BACKEND",
    "ORCHEO_VAULT_BACKEND",
    "ORCHEO_AUTH_SERVICE_TOKEN_BACKEND",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("ORCHEO_"):
            monkeypatch.delenv(name)


def config_error(**overrides: object) -> str:
    with pytest.raises(ConfigurationError) as info:
        load_settings(**overrides)
    assert info.value.__cause__ is None  # pydantic's error (with its inputs) is not chained
    return str(info.value)


def test_defaults_match_the_documented_ones() -> None:
    s = load_settings()
    assert set(s.selected_backends().values()) == {"sqlite"}
    assert (s.postgres_pool_min_size, s.postgres_pool_max_size) == (1, 10)
    assert (s.postgres_pool_timeout, s.postgres_pool_max_idle) == (30.0, 300.0)
    assert s.repository_sqlite_path == Path("~/.orcheo/workflows.sqlite")
    assert s.chatkit_sqlite_path == Path("~/.orcheo/chatkit.sqlite")
    assert s.sqlite_synchronous == "FULL"
    assert s.postgres_dsn is None


def test_existing_deployment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHEO_REPOSITORY_BACKEND", "postgres")
    monkeypatch.setenv("ORCHEO_CHECKPOINT_BACKEND", "postgres")
    monkeypatch.setenv("ORCHEO_CHATKIT_BACKEND", "memory")
    monkeypatch.setenv("ORCHEO_POSTGRES_DSN", DSNS[0])
    monkeypatch.setenv("ORCHEO_POSTGRES_POOL_MIN_SIZE", "2")
    monkeypatch.setenv("ORCHEO_POSTGRES_POOL_MAX_SIZE", "20")
    monkeypatch.setenv("ORCHEO_POSTGRES_POOL_TIMEOUT", "5")
    monkeypatch.setenv("ORCHEO_POSTGRES_POOL_MAX_IDLE", "60")
    monkeypatch.setenv("ORCHEO_REPOSITORY_SQLITE_PATH", "/data/wf.sqlite")
    monkeypatch.setenv("ORCHEO_CHATKIT_SQLITE_PATH", "/data/chat.sqlite")
    s = load_settings()
    backends = s.selected_backends()
    assert backends[Subsystem.WORKFLOWS] == backends[Subsystem.HISTORY] == "postgres"
    assert backends[Subsystem.AGENTENSOR] == backends[Subsystem.LANGGRAPH] == "postgres"
    assert backends[Subsystem.CHATKIT] == "memory"
    assert backends[Subsystem.VAULT] == backends[Subsystem.SERVICE_TOKENS] == "sqlite"
    assert s.dsn() == DSNS[0]
    assert (s.postgres_pool_min_size, s.postgres_pool_max_size) == (2, 20)
    assert (s.postgres_pool_timeout, s.postgres_pool_max_idle) == (5.0, 60.0)
    assert s.repository_sqlite_path == Path("/data/wf.sqlite")
    assert s.chatkit_sqlite_path == Path("/data/chat.sqlite")


@pytest.mark.parametrize(
    ("given", "expected"),
    [("file", "sqlite"), ("FILE", "sqlite"), (" File ", "sqlite"), ("inmemory", "memory"),
     ("postgresql", "postgres"), ("SQLite", "sqlite"), ("my-backend", "my-backend")],
)  # fmt: skip
def test_backend_names_and_aliases(
    monkeypatch: pytest.MonkeyPatch, given: str, expected: str
) -> None:
    monkeypatch.setenv("ORCHEO_VAULT_BACKEND", given)
    monkeypatch.setenv("ORCHEO_POSTGRES_DSN", DSNS[0])
    assert load_settings().vault_backend == expected


def test_keywords_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHEO_VAULT_BACKEND", "file")
    assert load_settings(vault_backend="memory").vault_backend == "memory"


def test_postgres_without_dsn_names_the_variable_and_the_users(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORCHEO_REPOSITORY_BACKEND", "postgres")
    monkeypatch.setenv("ORCHEO_CHATKIT_BACKEND", "postgresql")
    message = config_error()
    assert message == (
        "invalid storage settings: ORCHEO_POSTGRES_DSN is required when a backend "
        "is 'postgres' (ORCHEO_CHATKIT_BACKEND, ORCHEO_REPOSITORY_BACKEND)"
    )


def test_pool_max_below_min(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHEO_POSTGRES_POOL_MIN_SIZE", "5")
    monkeypatch.setenv("ORCHEO_POSTGRES_POOL_MAX_SIZE", "2")
    message = config_error()
    assert "ORCHEO_POSTGRES_POOL_MAX_SIZE (2) is below ORCHEO_POSTGRES_POOL_MIN_SIZE (5)" in message


def test_unknown_sqlite_synchronous_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORCHEO_SQLITE_SYNCHRONOUS", "sometimes")
    message = config_error()
    assert message.startswith("invalid storage settings: ORCHEO_SQLITE_SYNCHRONOUS: ")
    assert "'FULL', 'NORMAL' or 'EXTRA'" in message


def test_sqlite_synchronous_is_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHEO_SQLITE_SYNCHRONOUS", " normal ")
    assert load_settings().sqlite_synchronous == "NORMAL"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ORCHEO_POSTGRES_POOL_MIN_SIZE", "-1"),
        ("ORCHEO_POSTGRES_POOL_MAX_SIZE", "lots"),
        ("ORCHEO_POSTGRES_POOL_TIMEOUT", "0"),
        ("ORCHEO_POSTGRES_SCHEMA", "bad-name; drop"),
        ("ORCHEO_REPOSITORY_BACKEND", "   "),
        ("ORCHEO_AUTO_MIGRATE", "perhaps"),
    ],
)
def test_malformed_values_name_their_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    message = config_error()
    assert f"{variable}: " in message
    if len(value.strip()) > 2:
        assert value not in message  # inputs are not echoed


def test_several_errors_are_reported_together(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHEO_SQLITE_SYNCHRONOUS", "x")
    monkeypatch.setenv("ORCHEO_POSTGRES_POOL_TIMEOUT", "-3")
    message = config_error()
    assert "ORCHEO_SQLITE_SYNCHRONOUS" in message
    assert "ORCHEO_POSTGRES_POOL_TIMEOUT" in message


def test_settings_are_frozen() -> None:
    s = load_settings()
    with pytest.raises(Exception, match="frozen"):
        s.repository_backend = "memory"  # type: ignore[misc]


def test_token_db_path_defaults_beside_the_repository() -> None:
    s = load_settings(repository_sqlite_path="/data/wf.sqlite")
    assert s.token_db_path() == Path("/data/service_tokens.sqlite")
    assert load_settings(auth_service_token_db_path="/t/x.db").token_db_path() == Path("/t/x.db")


def test_dsn_missing_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="ORCHEO_POSTGRES_DSN is not set"):
        load_settings().dsn()


# --- redaction ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dsn", DSNS)
def test_canary_password_never_shown(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, dsn: str
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("ORCHEO_POSTGRES_DSN", dsn)
    monkeypatch.setenv("ORCHEO_REPOSITORY_BACKEND", "postgres")
    monkeypatch.setenv("ORCHEO_VAULT_ENCRYPTION_KEY", "vault-key-canary-9911")
    s = load_settings()
    assert s.dsn() == dsn  # drivers still get the real DSN
    shown = [repr(s), str(s), repr(s.redacted()), s.model_dump_json(), repr(s.model_dump())]
    for text in shown:
        assert CANARY not in text
        assert "vault-key-canary-9911" not in text
    assert "***" in s.redacted()["postgres_dsn"]
    assert "db.example" in s.redacted()["postgres_dsn"]  # the rest stays useful
    # an invalid setting next to the DSN: the error must not echo the DSN either
    monkeypatch.setenv("ORCHEO_POSTGRES_POOL_MAX_SIZE", "0")
    assert CANARY not in config_error()
    assert all(CANARY not in r.getMessage() for r in caplog.records)


def test_dsn_given_as_keyword_is_not_echoed_by_errors() -> None:
    message = config_error(
        postgres_dsn=f"postgresql://u:{CANARY}@h/db", repository_backend="postgres",
        postgres_pool_min_size="x",
    )  # fmt: skip
    assert "ORCHEO_POSTGRES_POOL_MIN_SIZE" in message
    assert CANARY not in message


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        ("postgresql://u:secret@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql://u:p@ss:w@rd@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("postgresql://h/db?password=secret&sslmode=verify-full",
         "postgresql://h/db?password=***&sslmode=verify-full"),
        ("host=h password=secret dbname=d", "host=h password=*** dbname=d"),
        ("postgresql://[::1/db", "postgresql://[::1/db"),
        # malformed (unescaped) passwords are still hidden completely
        ("postgresql://u:pa#ss@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u:p/ss@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u:p?ss@h/db", "postgresql://u:***@h/db"),
        ("host=h password='my secret' dbname=d", "host=h password=*** dbname=d"),
        ("host=h password = secret dbname=d", "host=h password = *** dbname=d"),
        ("host=h sslpassword=secret", "host=h sslpassword=***"),
        ("postgresql://h/db?sslpassword=secret", "postgresql://h/db?sslpassword=***"),
    ],
)  # fmt: skip
def test_redact_dsn(dsn: str, shown: str) -> None:
    assert redact_dsn(dsn) == shown


passwords = st.text(
    alphabet=st.characters(blacklist_categories=["Cs", "Cc"], blacklist_characters=" '\\@"),
    min_size=4,
    max_size=20,
).filter(lambda p: p.strip() == p)

# Everything the DSNs below contain besides the password: a password that occurs in this text
# (say "user") would be "found" after redaction without any leak, so such draws are skipped.
_TEMPLATE_TEXT = (
    "postgresql://orcheo:***@db.example:5432/orcheo?sslmode=require "
    "postgresql://orcheo@db.example/orcheo?password=***x "
    "host=db.example user=orcheo password=*** dbname=orcheo "
    "host=db.example password=*** with spaces' dbname=orcheo"
)


@given(passwords.filter(lambda p: p not in _TEMPLATE_TEXT))
def test_no_password_survives_redaction(password: str) -> None:
    url = f"postgresql://orcheo:{password}@db.example:5432/orcheo?sslmode=require"
    # in a query string "&" separates parameters, so such a password cannot contain it
    query = f"postgresql://orcheo@db.example/orcheo?password={password.replace('&', '')}x"
    keyvalue = f"host=db.example user=orcheo password={password} dbname=orcheo"
    quoted = f"host=db.example password='{password} with spaces' dbname=orcheo"
    for dsn in (url, query, keyvalue, quoted):
        redacted = redact_dsn(dsn)
        assert password not in redacted, (dsn, redacted)
        assert "db.example" in redacted


def test_settings_constructed_directly_are_also_redacted() -> None:
    s = StorageSettings(postgres_dsn=f"postgresql://u:{CANARY}@h/db")
    assert CANARY not in repr(s)
    assert CANARY not in f"{s}"


def test_backend_settings_name_every_backend_setting_once() -> None:
    """The one list of backend-naming settings every plugin and command uses."""
    assert BACKEND_SETTINGS == (
        "repository_backend",
        "checkpoint_backend",
        "chatkit_backend",
        "vault_backend",
        "auth_service_token_backend",
    )
    settings = StorageSettings(**dict.fromkeys(BACKEND_SETTINGS, "memory"))
    assert set(settings.selected_backends().values()) == {"memory"}
