"""`flashjobs up` heals itself: a dead child is started again, one that keeps dying stops the stack with a
clear message, and after `kill -9` of `up` nothing it started lives on and the next `up` takes over.

Real processes throughout: `flashjobs up` in a subprocess, its bundled Redis, uvicorn, a Celery worker and a
real (one-epoch, 40-image) training job.
"""

import os
import signal
import subprocess
from collections.abc import Iterator

import pytest

from app.core.embedded_redis import port_is_open
from app.jobs.status import JobStatus
from app.stack.lock import running_stack
from app.stack.processes import is_running, start_time
from tests.e2e.service_stack import wait_for
from tests.stack.running_up import FLASHJOBS, TINY_JOB, Up, clean_up, new_up, processes_mentioning

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    running = new_up(tmp_path_factory).start()
    running.wait_ready()
    yield running
    clean_up(running)


@pytest.mark.parametrize("child", ["worker", "redis", "api", "predictor"])
def test_a_killed_child_is_started_again_and_jobs_run(up: Up, child: str):
    before = up.children()
    os.kill(before[child], signal.SIGKILL)
    restarted = wait_for(
        lambda: (pid := up.children().get(child)) not in (None, before[child]) and pid,
        timeout=60,
        what=f"a new {child}",
    )
    assert up.process.poll() is None, up.output()
    assert f"The {child} exited with code -9" in up.output()
    up.wait_ready()
    assert {name: pid for name, pid in up.children().items() if name != child} == {
        name: pid for name, pid in before.items() if name != child
    }  # the others were left alone
    job = up.wait_final(up.submit(TINY_JOB))
    assert job["status"] == JobStatus.SUCCEEDED, job
    assert up.children()[child] == restarted


def test_a_child_that_dies_at_once_keeps_the_stack_from_starting(make_up):
    up = make_up(restart_limit="3")
    redis_dir = up.state_dir / "redis"
    redis_dir.mkdir(parents=True)
    (redis_dir / "appendonly.aof").write_text("this is not an append-only file\n")  # redis-server refuses it
    result = subprocess.run([*FLASHJOBS, "up"], env=up.env, capture_output=True, text=True, timeout=300)
    output = " ".join(result.stdout.split())
    assert result.returncode == 1, output
    assert "the redis failed to start, 3 times in a row within 10 s of starting; not restarting it" in output
    assert "Bad file format reading the append only file" in output  # redis's own words, from its log
    assert "Stopped." in output and running_stack(up.state_dir) is None
    assert processes_mentioning(str(up.state_dir)) == []


def test_nothing_outlives_a_killed_up(make_up):
    up = make_up().start()
    up.wait_ready()
    children = up.children()
    os.kill(up.process.pid, signal.SIGKILL)
    up.process.wait()
    wait_for(
        lambda: processes_mentioning(str(up.state_dir)) == [],
        timeout=120,
        what=f"the children {children} to die with their `up`",
    )


def test_the_next_up_stops_what_a_killed_up_left_and_runs_its_queued_job(make_up):
    first = make_up().start()
    first.wait_ready()
    left = first.children()
    started = {name: start_time(pid) for name, pid in left.items()}
    os.kill(left["worker"], signal.SIGSTOP)  # no worker takes the job: it stays queued
    job_id = first.submit(TINY_JOB)
    assert first.job(job_id)["status"] == JobStatus.QUEUED
    os.kill(left["redis"], signal.SIGSTOP)  # a Redis that does not die with its `up`, holding its port
    os.kill(first.process.pid, signal.SIGKILL)
    first.process.wait()
    assert port_is_open(int(first.env["FLASHJOBS_EMBEDDED_REDIS_PORT"]))

    second = Up(first.env, first.state_dir, first.url, first.log).start()
    try:
        second.wait_ready()
        assert f"Stopping the redis left running by a stack that was killed (pid {left['redis']})" in second.output()
        assert not any(is_running(pid, started[name]) for name, pid in left.items())
        job = second.wait_final(job_id)
        assert job["status"] == JobStatus.SUCCEEDED, job
    finally:
        clean_up(second)
    assert processes_mentioning(str(first.state_dir)) == []
