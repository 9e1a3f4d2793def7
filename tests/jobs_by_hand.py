"""Jobs driven by hand through the service functions a worker calls (claim, record an epoch, finish), and tools to
time the API's SQL reads under concurrent polls: the metrics, change-notice and cancel tests share them."""

import threading
import time

from tests.helpers import TRAIN_THREE_EPOCHS, write_tiny_model


def running_job(client) -> str:
    from app.core.db import session_scope
    from app.jobs import service

    job_id = client.post("/v1/jobs", json=TRAIN_THREE_EPOCHS).json()["id"]
    with session_scope() as session:
        service.claim(session, job_id=job_id, owner="test-worker")
    return job_id


def record_by_hand(job_id: str, epoch: int, attempt: int = 1, **values: float) -> bool:
    from app.core.db import session_scope
    from app.metrics.service import record_epoch

    values = values or {"train_loss": 2.0 - epoch, "val_accuracy": 0.1 * (epoch + 1), "val_f1": 0.05 * (epoch + 1)}
    with session_scope() as session:
        return record_epoch(session, job_id=job_id, attempt=attempt, epoch=epoch, values=values)


def finish_job(job_id: str, status: str = "succeeded") -> None:
    from app.core.db import session_scope
    from app.jobs import service

    with session_scope() as session:
        service.finish(session, job_id=job_id, attempt=1, status=status)


def model_job(client, classes: list[str], *, with_model: bool = True, status: str | None = "succeeded") -> str:
    """The id of a job as a worker leaves it: a real model.pt of `classes` registered as its `model` artifact
    (unless not with_model), then finished with `status` (None: left running)."""
    from app.artifacts import service as artifacts
    from app.core.config import get_settings
    from app.core.db import session_scope

    job_id = running_job(client)
    artifact_dir = get_settings().effective_artifact_dir
    if with_model:
        path = write_tiny_model(artifact_dir / "jobs" / job_id / "model.pt", class_names=classes)
        with session_scope() as session:
            artifacts.register(session, job_id=job_id, attempt=1, name="model", path=path, artifact_dir=artifact_dir)
    if status is not None:
        finish_job(job_id, status)
    return job_id


REVISION_READ = "SELECT jobs.status, jobs.metric_rows \nFROM jobs"  # the poller's check of a curve's revision


def answer_late(statement_start: str, seconds: float) -> list[float]:
    """Delay the answer of every SQL read that starts so (after it ran); returns when each of them ran."""
    from sqlalchemy import event

    from app.core.db import get_engine

    ran: list[float] = []

    @event.listens_for(get_engine(), "after_cursor_execute")
    def _delay(conn, cursor, statement, *args):
        if statement.startswith(statement_start):
            ran.append(time.monotonic())
            time.sleep(seconds)

    return ran


def get_at_once(client, url: str, clients: int = 20) -> list[bytes]:
    """The bodies of `clients` GETs of one URL released together."""
    barrier, answers = threading.Barrier(clients), []

    def get() -> None:
        barrier.wait()
        response = client.get(url)
        assert response.status_code == 200
        answers.append(response.content)

    threads = [threading.Thread(target=get) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return answers
