"""What the end-to-end tests share: SQLite (the embedded default; the API tests cover Postgres) and a stack that
serves the test's settings from a real API process and a real Celery worker process."""

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.service_stack import ServiceStack


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'flashjobs.db'}"


@pytest.fixture
def start_stack(service_env: dict[str, str], api_key: str, tmp_path: Path) -> Iterator[Callable[..., ServiceStack]]:
    """start_stack(FLASHJOBS_X="...", ...) -> the API and one worker on the test's settings, stopped at the end;
    `stack.http` and the CLI (with `stack.env`) carry a submit key of the default project."""
    started: list[ServiceStack] = []

    def start(**settings: str) -> ServiceStack:
        env = {**service_env, "FLASHJOBS_REDIS_URL": os.environ["FLASHJOBS_REDIS_URL"], **settings}
        (tmp_path / "logs").mkdir()
        service = ServiceStack(env, tmp_path / "logs", api_key=api_key)
        started.append(service)
        service.start_api()
        service.start_worker()
        return service

    yield start
    for service in started:
        service.stop()
