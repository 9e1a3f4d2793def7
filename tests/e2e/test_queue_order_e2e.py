"""Two real Celery workers drain a queue in SQL's order: highest priority first, then oldest, each job once."""

from datetime import datetime
from pathlib import Path

import pytest

from app.jobs.status import FINAL
from tests.e2e.service_stack import wait_for

pytestmark = pytest.mark.slow

TINY = {
    "kind": "train",
    "dataset": {"name": "cifar10", "train_limit": 20},
    "model": {"backbone": "resnet18", "cifar_stem": False},
    "trainer": {"max_epochs": 1, "batch_size": 10, "num_workers": 0},
}


def test_two_workers_take_jobs_by_priority_then_age(service_env, start_stack):
    from app.synthetic_data import write_cifar10

    write_cifar10(Path(service_env["FLASHJOBS_DATA_DIR"]), train_per_class=4, val_per_class=2)
    stack = start_stack(FLASHJOBS_HEARTBEAT_S="0.5")

    def submit(priority: str) -> str:
        answer = stack.http.post("/v1/jobs", json={**TINY, "priority": priority}, timeout=10)
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    def job(job_id: str) -> dict:
        return stack.http.get(f"/v1/jobs/{job_id}", timeout=10).json()

    blocker = submit("low")
    wait_for(lambda: job(blocker)["status"] == "running", timeout=120, what="the first worker to take a job")
    # Queued while the only worker is busy, in an order that is neither priority nor reverse age.
    submitted = {priority: [] for priority in ("high", "normal", "low")}
    for priority in ("low", "normal", "high", "low", "normal", "high"):
        submitted[priority].append(submit(priority))
    stack.start_worker()

    jobs = list(submitted["high"] + submitted["normal"] + submitted["low"])
    try:
        wait_for(lambda: all(job(j)["status"] in FINAL for j in [blocker, *jobs]), timeout=420, what="every job")
    except TimeoutError:
        raise AssertionError(stack.all_logs()) from None

    finished = {j: job(j) for j in [blocker, *jobs]}
    assert all(j["status"] == "succeeded" and j["attempt"] == 1 for j in finished.values()), finished
    started = sorted(jobs, key=lambda j: datetime.fromisoformat(finished[j]["started_at"]))
    assert started == jobs  # high, high, normal, normal, low, low: oldest first within each
    owners = {stack.logs(f"worker{n}").count(": training in ") for n in (0, 1)}  # worker/tasks.supervise logs it
    assert 0 not in owners, owners  # both workers ran jobs
