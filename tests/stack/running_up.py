"""`flashjobs up` as real processes for the stack tests: a state dir, free ports, tiny synthetic CIFAR data."""

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app.jobs.status import FINAL
from app.stack.commands import NotReady, exit_of, wait_ready
from tests.e2e.service_stack import wait_for
from tests.helpers import free_port

FLASHJOBS = [str(Path(sys.executable).with_name("flashjobs"))]  # the installed console script
# One epoch on 40 images, the ImageNet stem (cheap at 32 px on a CPU), no loader processes: a job that succeeds.
TINY_JOB = {
    "kind": "train",
    "dataset": {"name": "cifar10"},
    "model": {"backbone": "resnet18", "cifar_stem": False},
    "trainer": {"max_epochs": 1, "batch_size": 20, "optimizer": "adam", "learning_rate": 0.001, "num_workers": 0},
}


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line or environment holds text (Linux /proc); zombies have neither."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if text.encode() in (entry / "environ").read_bytes() + (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue  # gone meanwhile, or not ours to read
    return found


@dataclass
class Up:
    """One `flashjobs up` process, its settings and its log."""

    env: dict[str, str]
    state_dir: Path
    url: str
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> "Up":
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [*FLASHJOBS, "up"], env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    def wait_ready(self) -> None:
        try:
            wait_ready(self.url, abort_if=exit_of(self.process, "`flashjobs up`"))
        except NotReady as exc:
            raise AssertionError(f"{exc}\n{self.output()}") from None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def children(self) -> dict[str, int]:
        """The children the lock file records: name -> pid."""
        record = json.loads((self.state_dir / "stack.lock").read_text() or "{}")
        return {name: child["pid"] for name, child in record.get("children", {}).items()}

    def submit(self, spec: dict) -> str:
        response = httpx.post(f"{self.url}/v1/jobs", json=spec, headers=self.auth(), timeout=30)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def job(self, job_id: str) -> dict:
        return httpx.get(f"{self.url}/v1/jobs/{job_id}", headers=self.auth(), timeout=30).json()

    def auth(self) -> dict[str, str]:
        """The admin key this `flashjobs up` wrote in its state dir, as the CLI finds it."""
        return {"Authorization": f"Bearer {(self.state_dir / 'admin.key').read_text().strip()}"}

    def wait_final(self, job_id: str, timeout: float = 300) -> dict:
        try:
            return wait_for(
                lambda: (job := self.job(job_id))["status"] in FINAL and job,
                timeout=timeout,
                what=f"job {job_id} to end",
            )
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{self.output()}\n{self.worker_log()}") from None

    def worker_log(self) -> str:
        path = self.state_dir / "logs" / "worker.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        """SIGTERM, as a service manager stops it; then nothing of it may be left."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=180)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def new_up(tmp_path_factory: pytest.TempPathFactory, **settings: str) -> Up:
    """An Up (not started) with its own state dir, ports and tiny synthetic data; settings are FLASHJOBS_*."""
    from app.synthetic_data import write_cifar10

    tmp = tmp_path_factory.mktemp("up")
    url = f"http://127.0.0.1:{free_port()}"
    write_cifar10(tmp / "data", train_per_class=4, val_per_class=2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASHJOBS_")}  # the bundled Redis
    env |= {
        "FLASHJOBS_STATE_DIR": str(tmp / "state"),
        "FLASHJOBS_DATA_DIR": str(tmp / "data"),
        "FLASHJOBS_ALLOW_DOWNLOADS": "false",
        "FLASHJOBS_API_URL": url,
        "FLASHJOBS_EMBEDDED_REDIS_PORT": str(free_port()),
        **{f"FLASHJOBS_{name.upper()}": value for name, value in settings.items()},
    }
    return Up(env, tmp / "state", url, tmp / "up.log")


def clean_up(up: Up) -> None:
    """Stop it, then kill anything of its state dir still alive (a failed test must not leave processes)."""
    up.stop()
    for pid in processes_mentioning(str(up.state_dir)):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
