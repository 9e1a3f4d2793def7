"""A pre-started attempt process: `python -m worker.run_attempt --spare` has imported torch and Flash before any
job comes, so a job's first step does not wait for those imports (about 5 s of the 6.3 s submit -> first step).

A spare serves one attempt and is never reused: it is a fresh process with only modules imported, started in a
session of its own (the supervisor kills the attempt's whole group, as a cold one's), and the supervisor
observes its exit as a cold attempt's. It learns its job from one line on its stdin; when the worker dies its
stdin closes and it exits.
"""

import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

log = logging.getLogger(__name__)
SPARE_ARGV = [sys.executable, "-m", "worker.run_attempt", "--spare"]


class SpareAttempt:
    """At most one waiting spare for this worker process (one job at a time)."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Have a spare waiting (a new one unless one is alive already)."""
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._process = subprocess.Popen(SPARE_ARGV, stdin=subprocess.PIPE, start_new_session=True)

    def take(self, *, job_id: str, attempt: int, log_path: Path) -> subprocess.Popen[bytes] | None:
        """The waiting spare, told to run this attempt and write to log_path; None if there is none alive."""
        with self._lock:
            process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return None
        try:
            assert process.stdin is not None
            process.stdin.write(f"{job_id} {attempt} {log_path}\n".encode())
            process.stdin.close()
        except OSError:  # it died between the poll and the write
            return None
        return process

    def stop(self) -> None:
        """Kill the waiting spare (the worker stops)."""
        with self._lock:
            process, self._process = self._process, None
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()


def wait_for_assignment() -> tuple[str, int] | None:
    """In the spare: import the stack, then wait for `JOB ATTEMPT LOG_PATH`; None when stdin closes first."""
    from worker.training import recipe  # noqa: F401  (the imports a cold attempt pays after its start)

    line = sys.stdin.readline()
    if not line.strip():
        return None
    job_id, attempt, log_path = line.rstrip("\n").split(" ", 2)
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.argv = [sys.argv[0], job_id, attempt]  # Lightning starts DDP ranks > 0 with this process's argv
    return job_id, int(attempt)
