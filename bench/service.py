"""The real service for benchmarks: `flashjobs up` in the background, on its own Redis, state and data dirs.

Not a benchmark itself; bench/service_overhead.py and bench/latency.py import it.
"""

import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tests.helpers, app
from app.core.embedded_redis import start_redis_server
from app.jobs.status import FINAL
from app.stack.background import start_in_background, stop_background
from app.stack.commands import NotReady, exit_of, wait_ready
from tests.helpers import free_port

# The benchmarks' HTTP client: running_service gives it the admin key `flashjobs up` wrote.
api = httpx.Client()


@contextlib.contextmanager
def running_service(root: Path, data_dir: Path, **settings: str) -> Iterator[str]:
    """Start Redis and `flashjobs up` (API + one warm Celery worker, SQLite); yield the API URL; stop both."""
    redis_port, api_port = free_port(), free_port()
    redis = start_redis_server(port=redis_port, data_dir=root / "redis")
    api_url = f"http://127.0.0.1:{api_port}"
    env = {
        "FLASHJOBS_STATE_DIR": str(root / "state"),
        "FLASHJOBS_DATA_DIR": str(data_dir),
        "FLASHJOBS_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "FLASHJOBS_API_URL": api_url,
        "FLASHJOBS_ALLOW_DOWNLOADS": "false",
        **{f"FLASHJOBS_{k.upper()}": v for k, v in settings.items()},
    }
    stack = start_in_background(api_url=api_url, env=env, log_file=root / "up.log")
    try:
        try:
            wait_ready(api_url, abort_if=exit_of(stack, "stack"))
        except NotReady as exc:
            raise RuntimeError(f"the stack did not come up ({exc}); see {root / 'up.log'}") from None
        _wait_for_worker(root / "state" / "logs" / "worker.log")
        api.headers["Authorization"] = f"Bearer {(root / 'state' / 'admin.key').read_text().strip()}"
        yield api_url
    finally:
        stop_background(stack)
        redis.terminate()
        redis.wait(timeout=10)


def _wait_for_worker(log: Path, timeout_s: float = 120) -> None:
    """Celery prints 'ready.' once it consumes: from then on the worker is warm."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if log.exists() and "ready." in log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"the worker did not get ready; see {log}")


def wait_final(api_url: str, job_id: str, *, poll_s: float = 0.5, timeout_s: float = 3600) -> tuple[dict, float]:
    """Poll the job until it ends; (job, monotonic time it was first seen ended). Slow polls: the poller's own
    requests take CPU from training on a small machine; read when it ended from `finished_at` instead."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=api_url, headers=api.headers, timeout=10) as client:
        while time.monotonic() < deadline:
            job = client.get(f"/v1/jobs/{job_id}").json()
            if job["status"] in FINAL:
                return job, time.monotonic()
            time.sleep(poll_s)
    raise TimeoutError(f"job {job_id} did not finish in {timeout_s} s")
