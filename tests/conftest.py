"""Real services for the tests: a bundled redis-server, SQLite and (when reachable) Postgres, the app."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import (
    bearer,
    create_postgres_database,
    drop_postgres_database,
    free_port,
    make_key,
    postgres_reachable,
)

_REDIS_PORT = None


def pytest_configure(config: pytest.Config) -> None:
    """One redis-server for the whole run, in the environment before any test reads the settings."""
    global _REDIS_PORT
    from app.core.embedded_redis import start_redis_server
    from app.stack.processes import die_with_parent

    _REDIS_PORT = free_port()
    data_dir = Path(config.rootpath) / ".pytest-state" / f"redis-{_REDIS_PORT}"
    # A parent-death signal: a pytest killed outright leaves no redis-server behind.
    config._flashjobs_redis = start_redis_server(
        port=_REDIS_PORT,
        data_dir=data_dir,  # type: ignore[attr-defined]
        preexec_fn=die_with_parent,
    )
    os.environ["FLASHJOBS_REDIS_URL"] = f"redis://127.0.0.1:{_REDIS_PORT}/0"
    os.environ["FLASHJOBS_RECONCILE_IN_API"] = "false"  # tests run the reconciler when they mean to


def pytest_unconfigure(config: pytest.Config) -> None:
    process = getattr(config, "_flashjobs_redis", None)
    if process is not None:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def redis_url() -> str:
    return os.environ["FLASHJOBS_REDIS_URL"]


def _reset_caches() -> None:
    from app.access.principal import verified_keys
    from app.core.config import get_settings
    from app.core.db import get_engine, get_read_engine, get_sessionmaker
    from app.jobs import owners
    from app.jobs.views import job_views
    from app.metrics.polling import curve_poller

    if get_engine.cache_info().currsize:
        get_engine().dispose()
    curve_poller.clear()
    job_views.clear()
    owners.clear()
    verified_keys.forget()
    for cached in (get_settings, get_engine, get_read_engine, get_sessionmaker):
        cached.cache_clear()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each kind; Postgres is skipped only where none is reachable."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'flashjobs.db'}"
        return
    if not postgres_reachable():
        if os.environ.get("CI"):
            pytest.fail("Postgres at 127.0.0.1:5432 is not reachable, and CI must test it")
        pytest.skip("no Postgres at 127.0.0.1:5432")
    url, name = create_postgres_database()
    yield url
    _reset_caches()
    drop_postgres_database(name)


@pytest.fixture
def service_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """FLASHJOBS_* settings for one test: its own database, state, artifact and data directories."""
    env = {
        "FLASHJOBS_DATABASE_URL": database_url,
        "FLASHJOBS_STATE_DIR": str(tmp_path / "state"),
        "FLASHJOBS_ARTIFACT_DIR": str(tmp_path / "artifacts"),
        "FLASHJOBS_DATA_DIR": str(tmp_path / "data"),
        "FLASHJOBS_ALLOW_DOWNLOADS": "false",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    (tmp_path / "data").mkdir()
    _reset_caches()
    from app.core.config import get_settings
    from app.core.migrate import upgrade

    upgrade(get_settings().effective_database_url)
    yield env
    _reset_caches()


@pytest.fixture
def api_key(service_env: dict[str, str]) -> str:
    """A submit key of the default project: what the shared clients carry."""
    return make_key("submit")


@pytest.fixture
def client(service_env: dict[str, str], api_key: str) -> Iterator["object"]:
    """The real app (real SQL, real Redis) served in-process by Starlette's test client, with a submit key."""
    from fastapi.testclient import TestClient

    from app.main import create_app

    with TestClient(create_app(), headers=bearer(api_key)) as test_client:
        yield test_client
