"""Start the real service for end-to-end tests: uvicorn serving the API and a Celery worker process."""

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx

from app.jobs.status import FINAL
from app.stack.commands import NotReady, api_argv, exit_of, predictor_argv, wait_ready, worker_argv
from tests.helpers import free_port

T = TypeVar("T")


class ServiceStack:
    """An API process and worker processes sharing one database, Redis and artifact directory."""

    def __init__(self, env: dict[str, str], log_dir: Path, api_key: str | None = None) -> None:
        self.api_key = api_key
        key = {"FLASHJOBS_API_KEY": api_key} if api_key else {}
        self.env = {**os.environ, **env, **key, "PYTHONUNBUFFERED": "1"}  # the CLI run with this env uses the key
        self.log_dir = log_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.predictors: list[subprocess.Popen[bytes]] = []
        # What the tests' own requests go through: the stack's URL with the key.
        self.http = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {api_key}"} if api_key else {})

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}.log").open("ab")
        # Own session: teardown kills the whole group, training children included.
        return subprocess.Popen(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def start_api(self) -> None:
        self.api = self._spawn("api", api_argv("127.0.0.1", self.port))
        try:
            wait_ready(self.url, timeout_s=60, abort_if=exit_of(self.api, "API"))
        except NotReady as exc:
            raise TimeoutError(f"{exc}\n{self.logs('api')}") from None

    def start_worker(self) -> subprocess.Popen[bytes]:
        """One more worker process, exactly as `flashjobs up` starts its own (app/stack/commands.worker_argv)."""
        n = len(self.workers)
        worker = self._spawn(f"worker{n}", worker_argv(f"test{n}@%h"))
        self.workers.append(worker)
        return worker

    def start_predictor(self) -> subprocess.Popen[bytes]:
        """A prediction server (worker/serving/), as `flashjobs predictor` runs it; it registers within seconds."""
        predictor = self._spawn(f"predictor{len(self.predictors)}", predictor_argv())
        self.predictors.append(predictor)
        return predictor

    def job(self, job_id: str) -> dict:
        return self.http.get(f"/v1/jobs/{job_id}", timeout=10).json()

    def wait_final(self, job_id: str, timeout: float = 300) -> dict:
        """The job once it is succeeded, failed or cancelled; the stack's logs in the failure if it never is."""
        try:
            return wait_for(
                lambda: (j := self.job(job_id))["status"] in FINAL and j, timeout=timeout, what=f"job {job_id} to end"
            )
        except TimeoutError:
            raise AssertionError(self.all_logs()) from None

    def logs(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text()[-6000:] if path.exists() else ""

    def all_logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-4000:]}" for p in sorted(self.log_dir.rglob("*.log")))

    def stop(self) -> None:
        for process in [*self.workers, *self.predictors, self.api]:
            if process is not None and process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait(timeout=30)


def wait_for(predicate: Callable[[], T], *, timeout: float, interval: float = 0.25, what: str = "condition") -> T:
    """Poll until predicate() returns something truthy; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def training_pids(job_id: str) -> list[int]:
    """Processes running an attempt of this job (the supervisor's child, and its loader workers)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
                # A spare started ahead (worker/spare.py) has no job id in its command line; its output, once it
                # has a job, goes to the job's attempt log.
                output = os.readlink(entry / "fd" / "1") if b"--spare" in cmdline else ""
            except OSError:
                continue
            if b"worker.run_attempt" in cmdline and (job_id.encode() in cmdline or f"/{job_id}/" in output):
                pids.append(int(entry.name))
    return pids
