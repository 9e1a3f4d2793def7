"""`flashjobs up` as a background process: the demo's stack, and the benchmarks'."""

import os
import signal
import subprocess
import sys
from pathlib import Path

from app.stack.commands import host_and_port
from app.stack.processes import send
from app.stack.supervisor import STOP_TIMEOUT_S


def start_in_background(*, api_url: str, env: dict[str, str], log_file: Path) -> subprocess.Popen[bytes]:
    """Run `flashjobs up` detached (its own session, so Ctrl-C on the caller does not reach it)."""
    host, port = host_and_port(api_url)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "app.cli", "up", "--host", host, "--port", str(port)],
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def stop_background(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM makes `up` stop its children in order; SIGKILL only if that takes far too long."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=sum(STOP_TIMEOUT_S.values()) + 30)
    except subprocess.TimeoutExpired:
        send(process.pid, signal.SIGKILL, group=True)
        process.wait()
