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


def test_a_project_with_nothing_running_goes_before_a_busier_ones_older_jobs(service_env, start_stack):
    from app.synthetic_data import write_cifar10
    from tests.helpers import bearer, make_key

    write_cifar10(Path(service_env["FLASHJOBS_DATA_DIR"]), train_per_class=4, val_per_class=2)
    stack = start_stack(FLASHJOBS_HEARTBEAT_S="0.5")
    other, admin = bearer(make_key("submit", project="other")), bearer(make_key("admin"))

    def job(job_id: str) -> dict:  # an admin key sees both projects
        return stack.http.get(f"/v1/jobs/{job_id}", headers=admin, timeout=10).json()

    def submit(headers: dict | None = None, epochs: int = 1) -> str:
        spec = {**TINY, "trainer": {**TINY["trainer"], "max_epochs": epochs}}
        answer = stack.http.post("/v1/jobs", json=spec, headers=headers, timeout=10)
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    blocker = submit(epochs=300)  # the default project's, running until cancelled
    wait_for(lambda: job(blocker)["status"] == "running", timeout=120, what="the first worker to take a job")
    crowd = [submit() for _ in range(3)]  # the default project's, older than the other project's one
    single = stack.http.post("/v1/jobs", json=TINY, headers=other, timeout=10).json()["id"]
    stack.start_worker()
    # The free worker passes over the busy project's older jobs for the project running nothing.
    wait_for(lambda: job(single)["status"] != "queued", timeout=120, what="the second worker to take a job")
    assert all(job(j)["status"] == "queued" for j in crowd)
    assert stack.http.post(f"/v1/jobs/{blocker}/cancel", timeout=10).status_code == 202

    wait_for(lambda: all(job(j)["status"] in FINAL for j in [single, *crowd]), timeout=420, what="every job")
    finished = {j: job(j) for j in [single, *crowd]}
    assert all(j["status"] == "succeeded" for j in finished.values()), finished
    started = sorted(finished, key=lambda j: datetime.fromisoformat(finished[j]["started_at"]))
    assert started == [single, *crowd]
