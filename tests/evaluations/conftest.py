"""Succeeded jobs with a real model.pt of chosen classes, and uploaded datasets, for the evaluation tests."""

import functools
from collections.abc import Callable

import pytest
import redis

from tests import jobs_by_hand
from tests.datasets.archives import class_tree, zip_bytes


@pytest.fixture(autouse=True)
def _empty_queue(redis_url: str) -> None:
    redis.Redis.from_url(redis_url).delete("training")


@pytest.fixture
def model_job(client, service_env) -> Callable[..., str]:
    """model_job(classes, with_model=True, status="succeeded") -> the id of a job as a worker leaves it."""
    return functools.partial(jobs_by_hand.model_job, client)


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
