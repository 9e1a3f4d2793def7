"""A succeeded job with a real model.pt, and a real prediction server (worker/serving/) on the test's Redis."""

import threading
from collections.abc import Callable, Iterator

import pytest

from tests.helpers import write_tiny_model
from tests.jobs_by_hand import finish_job, running_job

CLASSES = ["cat", "dog", "fox"]


@pytest.fixture
def make_model_job(client, service_env) -> Callable[..., str]:
    """make_model_job(with_model=True, status="succeeded") -> the id of a job as a worker leaves it."""

    def make(*, with_model: bool = True, status: str | None = "succeeded") -> str:
        from app.artifacts import service as artifacts
        from app.core.config import get_settings
        from app.core.db import session_scope

        job_id = running_job(client)
        artifact_dir = get_settings().effective_artifact_dir
        if with_model:
            path = write_tiny_model(artifact_dir / "jobs" / job_id / "model.pt", class_names=CLASSES)
            with session_scope() as session:
                artifacts.register(
                    session, job_id=job_id, attempt=1, name="model", path=path, artifact_dir=artifact_dir
                )
        if status is not None:
            finish_job(job_id, status)
        return job_id

    return make


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
