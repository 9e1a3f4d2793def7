"""Succeeded jobs with a real model.pt of chosen classes, and uploaded datasets, for the evaluation tests."""

from collections.abc import Callable

import pytest
import redis

from tests.datasets.archives import class_tree, zip_bytes
from tests.helpers import write_tiny_model
from tests.jobs_by_hand import finish_job, running_job


@pytest.fixture(autouse=True)
def _empty_queue(redis_url: str) -> None:
    redis.Redis.from_url(redis_url).delete("training")


@pytest.fixture
def model_job(client, service_env) -> Callable[..., str]:
    """model_job(classes, with_model=True, status="succeeded") -> the id of a job as a worker leaves it."""

    def make(classes: list[str], *, with_model: bool = True, status: str | None = "succeeded") -> str:
        from app.artifacts import service as artifacts
        from app.core.config import get_settings
        from app.core.db import session_scope

        job_id = running_job(client)
        artifact_dir = get_settings().effective_artifact_dir
        if with_model:
            path = write_tiny_model(artifact_dir / "jobs" / job_id / "model.pt", class_names=classes)
            with session_scope() as session:
                artifacts.register(
                    session, job_id=job_id, attempt=1, name="model", path=path, artifact_dir=artifact_dir
                )
        if status is not None:
            finish_job(job_id, status)
        return job_id

    return make


@pytest.fixture
def upload(client) -> Callable[..., str]:
    """upload({"cats": 3, "dogs": 3}) -> the id of a ready dataset of those classes."""

    def make(classes: dict[str, int], headers: dict[str, str] | None = None) -> str:
        body = zip_bytes(class_tree(classes))
        answer = client.post(
            "/v1/datasets", content=body, headers={"Content-Type": "application/zip", **(headers or {})}
        )
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    return make
