"""docker-compose.yml follows the deployment design (no Docker engine needed: we parse it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

COMPOSE = Path(__file__).resolve().parents[1] / "docker-compose.yml"
APP_SERVICES = ("backend", "worker", "scheduler")


def load_compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a dict (compose allows a list of KEY=VALUE too)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


def test_postgres_service(compose: dict[str, Any]) -> None:
    pg = compose["services"]["postgres"]
    assert pg["image"] == "postgres:16"
    check = pg["healthcheck"]["test"]
    assert any("pg_isready" in part for part in check)
    assert pg["healthcheck"]["retries"] >= 1
    volume, _, target = pg["volumes"][0].partition(":")
    assert target == "/var/lib/postgresql/data"
    assert volume in compose["volumes"], "the data volume must be a named volume"


def test_migrate_is_one_shot_after_postgres(compose: dict[str, Any]) -> None:
    migrate = compose["services"]["migrate"]
    assert migrate["command"][:2] == ["orcheo-storage", "migrate-schema"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert environment(migrate)["ORCHEO_REPOSITORY_BACKEND"] == "postgres"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    env = environment(service)
    assert env["ORCHEO_REPOSITORY_BACKEND"] == "postgres"
    assert env["ORCHEO_CHECKPOINT_BACKEND"] == "postgres"
    assert env["ORCHEO_POSTGRES_DSN"] == "postgresql://orcheo:orcheo@postgres:5432/orcheo"
    depends = service["depends_on"]
    assert depends["postgres"]["condition"] == "service_healthy"
    assert depends["migrate"]["condition"] == "service_completed_successfully"


def test_dsn_matches_the_postgres_service(compose: dict[str, Any]) -> None:
    pg_env = environment(compose["services"]["postgres"])
    for name in (*APP_SERVICES, "migrate"):
        dsn = urlsplit(environment(compose["services"][name])["ORCHEO_POSTGRES_DSN"])
        assert dsn.hostname == "postgres"  # the service name on the compose network
        assert dsn.port == 5432
        assert dsn.username == pg_env["POSTGRES_USER"]
        assert dsn.password == pg_env["POSTGRES_PASSWORD"]
        assert dsn.path.lstrip("/") == pg_env["POSTGRES_DB"]


def test_every_process_shares_one_vault_key(compose: dict[str, Any]) -> None:
    keys = {
        environment(compose["services"][name])["ORCHEO_VAULT_ENCRYPTION_KEY"]
        for name in (*APP_SERVICES, "migrate")
    }
    assert len(keys) == 1
    assert next(iter(keys)).startswith("${"), "the key comes from the host, never the file"
