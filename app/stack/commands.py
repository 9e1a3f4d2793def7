"""The children's command lines, URL helpers, and the one wait for a server's /readyz."""

import subprocess
import sys
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from app.core.queue import TRAINING_QUEUE

CELERY_APP = "worker.celery_app:celery_app"  # built when the worker reads the attribute, not at import
READY_TIMEOUT_S = 120.0


def api_argv(host: str, port: int) -> list[str]:
    """The API server's command line."""
    # A short graceful timeout: open SSE streams would otherwise hold a shutdown until clients leave.
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "app.main:app",
        "--host",
        host,
        "--port",
        str(port),
        "--timeout-graceful-shutdown",
        "5",
    ]


def worker_argv(hostname: str = "flashjobs@%h", loglevel: str = "info") -> list[str]:
    """A Celery worker for one GPU: one job at a time, run by the task's own supervised child process."""
    # solo pool: the task supervises a training process itself, so the pool needs no processes of its own.
    # No gossip or mingle: workers coordinate through SQL, and mingle only delays start-up.
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        CELERY_APP,
        "worker",
        "-Q",
        TRAINING_QUEUE,
        "--pool",
        "solo",
        "--concurrency",
        "1",
        "-n",
        hostname,
        "--loglevel",
        loglevel,
        "--without-gossip",
        "--without-mingle",
    ]


def predictor_argv() -> list[str]:
    """The prediction server's command line (worker/serving/: torch, without Flash)."""
    return [sys.executable, "-m", "worker.serving"]


def local_url(host: str, port: int) -> str:
    """The URL a local client uses for a server bound to host:port."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{shown}:{port}"


def host_and_port(api_url: str) -> tuple[str, int]:
    """Where to listen so that clients using api_url find the server."""
    parts = urlsplit(api_url)
    return parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "https" else 80)


def is_local(api_url: str) -> bool:
    return (urlsplit(api_url).hostname or "") in ("127.0.0.1", "localhost", "::1")


def answers(url: str, path: str = "/healthz", timeout_s: float = 1.0) -> bool:
    """Whether a server answers 200 at url + path."""
    try:
        return httpx.get(url.rstrip("/") + path, timeout=timeout_s).status_code == 200
    except httpx.HTTPError:
        return False


def safe_url(url: str) -> str:
    """A database URL fit to print: the password hidden."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


class NotReady(Exception):
    """A server did not answer /readyz in time, or the wait was abandoned (its process exited, say)."""


def wait_ready(
    url: str,
    *,
    timeout_s: float = READY_TIMEOUT_S,
    abort_if: Callable[[], str | None] = lambda: None,
    interval_s: float = 0.2,
) -> None:
    """Poll url/readyz until it answers 200. abort_if runs before each try: a reason it gives ends the wait."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while True:
        if reason := abort_if():
            raise NotReady(reason)
        try:
            response = httpx.get(url.rstrip("/") + "/readyz", timeout=2)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}: {response.text[:300]}"
        except httpx.HTTPError as exc:
            last = str(exc) or type(exc).__name__
        if time.monotonic() >= deadline:
            raise NotReady(f"{url} was not ready within {timeout_s:.0f} s ({last})")
        time.sleep(interval_s)


def exit_of(process: subprocess.Popen[bytes], name: str) -> Callable[[], str | None]:
    """An abort_if for wait_ready: the reason, once process has exited."""

    def exited() -> str | None:
        code = process.poll()
        return None if code is None else f"the {name} exited with code {code}"

    return exited
