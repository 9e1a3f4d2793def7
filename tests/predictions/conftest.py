"""A succeeded job with a real model.pt, and a real prediction server (worker/serving/) on the test's Redis."""

import functools
import threading
from collections.abc import Callable, Iterator

import pytest

from tests import jobs_by_hand

CLASSES = ["cat", "dog", "fox"]


@pytest.fixture
def make_model_job(client, service_env) -> Callable[..., str]:
    """make_model_job(with_model=True, status="succeeded") -> the id of a job as a worker leaves it."""
    return functools.partial(jobs_by_hand.model_job, client, CLASSES)


@pytest.fixture
def prediction_server(service_env) -> Iterator[object]:
    """The server's loop in a thread of the test process, stopped at the end."""
    import torch

    from app.core.config import get_settings
    from worker.serving.models import ModelCache
    from worker.serving.server import PredictionServer

    settings = get_settings()
    cache = ModelCache(artifact_dir=settings.effective_artifact_dir, max_bytes=1 << 30, device=torch.device("cpu"))
    server = PredictionServer(settings.effective_redis_url, cache)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield server
    server.stop.set()
    thread.join(timeout=10)
