"""Attempts started ahead (worker/spare.py): each job runs in a process that had imported the stack before the job
existed, a fresh one per attempt, observed and owned by the supervisor as a new process is."""

import re
import time
from pathlib import Path

import pytest

from tests.e2e.service_stack import ServiceStack, wait_for

pytestmark = pytest.mark.slow

TINY = {
    "kind": "train",
    "dataset": {"name": "cifar10", "train_limit": 40, "val_limit": 20},
    "model": {"backbone": "resnet18", "cifar_stem": False},
    "trainer": {"max_epochs": 1, "batch_size": 20, "num_workers": 0},
}


def _run(stack: ServiceStack) -> dict:
    job = stack.http.post("/v1/jobs", json=TINY, timeout=10).json()

    done = stack.wait_final(job["id"])
    assert done["status"] == "succeeded", f"{done}\n{stack.all_logs()}"
    return done


def _attempt_processes(stack: ServiceStack) -> list[tuple[str, str, int]]:
    """(job id, warm or new, pid) of every attempt the worker started, from its log."""
    found = re.findall(r"job (\w+) attempt 1: training in (warm|new) process (\d+)", stack.logs("worker0"))
    return [(job_id, how, int(pid)) for job_id, how, pid in found]


@pytest.fixture
def data(service_env):
    from app.synthetic_data import write_cifar10

    write_cifar10(Path(service_env["FLASHJOBS_DATA_DIR"]), train_per_class=4, val_per_class=2)


def test_each_job_runs_in_its_own_process_started_before_it(data, start_stack):
    stack = start_stack()
    # The spare imports while no job exists yet; the worker's first job then finds it waiting.
    wait_for(lambda: "ready." in stack.logs("worker0"), timeout=120, what="the worker to be ready")
    time.sleep(1)
    first, second = _run(stack), _run(stack)
    processes = _attempt_processes(stack)
    assert [(job_id, how) for job_id, how, _ in processes] == [(first["id"], "warm"), (second["id"], "warm")]
    assert processes[0][2] != processes[1][2]  # a spare serves one attempt, never two
    # Its output went to the job's attempt log, as a new process's does.
    log = (Path(stack.env["FLASHJOBS_ARTIFACT_DIR"]) / first["id"] / "attempt-1.log").read_text()
    assert "GPU available" in log and "`Trainer.fit` stopped" in log


def test_the_next_jobs_spare_imports_while_this_job_trains(data, start_stack):
    stack = start_stack()
    wait_for(lambda: "ready." in stack.logs("worker0"), timeout=120, what="the worker to be ready")
    first, second = _run(stack), _run(stack)
    log = stack.logs("worker0")
    (_, first_how, first_pid), (second_id, how, second_pid) = _attempt_processes(stack)
    assert (second_id, how) == (second["id"], "warm")
    first_trains = log.index(f"job {first['id']} attempt 1: training in {first_how} process {first_pid}")
    first_ends = log.index("succeeded in", first_trains)  # Celery's line for the task that ran the first job
    # The second job's process was started after the first's attempt began, and before it ended.
    assert first_trains < log.index(f"spare attempt process {second_pid} started") < first_ends


def test_warm_attempts_off_starts_a_new_process_per_attempt(data, start_stack):
    stack = start_stack(FLASHJOBS_WARM_ATTEMPTS="false")
    job = _run(stack)
    assert [(job_id, how) for job_id, how, _ in _attempt_processes(stack)] == [(job["id"], "new")]
