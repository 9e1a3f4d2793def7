"""A pre-started attempt process: `python -m worker.run_attempt --spare` has imported torch and Flash before any
job comes, so a job's first step does not wait for those imports (about 5 s of the 6.3 s submit -> first step).

A spare serves one attempt and is never reused: it is a fresh process with only modules imported, started in a
session of its own (the supervisor kills the attempt's whole group, as a cold one's), and the supervisor
observes its exit as a cold attempt's. It learns its job from one line on its stdin; when the worker dies its
stdin closes and it exits.

The next job's spare starts as an attempt starts, not when it ends: a chain's next step is queued the moment its
parent ends, and would otherwise meet a spare just beginning its imports. That spare imports in a thread at the
lowest priority (Linux's nice is per thread), so that it takes only the CPU the training leaves: none of a
CPU-bound training's, most of a GPU training's. The training's own threads start later, from the main thread,
at the process's priority. A spare started while no training runs (the worker's first, or after an attempt
that ended early) imports at the usual priority: at start-up it would lose the cores to the prediction server's
imports (bench/warm_attempts.py --pause-s 0, docs/benchmarks.md).
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
BESIDE_TRAINING = "--beside-training"


class SpareAttempt:
    """At most one waiting spare for this worker process (one job at a time)."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def start(self, *, beside_training: bool = False) -> None:
        """Have a spare waiting (a new one unless one is alive already); beside a training, one that yields to it."""
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                argv = [*SPARE_ARGV, BESIDE_TRAINING] if beside_training else SPARE_ARGV
                self._process = subprocess.Popen(argv, stdin=subprocess.PIPE, start_new_session=True)
                beside = " beside a training" if beside_training else ""
                log.info("spare attempt process %s started%s", self._process.pid, beside)

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


def wait_for_assignment(*, beside_training: bool) -> tuple[str, int] | None:
    """In the spare: import the stack, then wait for `JOB ATTEMPT LOG_PATH`; None when stdin closes first."""
    import numpy  # noqa: F401  (OpenBLAS starts its threads at this import: here, at the process's priority)

    importer = threading.Thread(target=_import_the_stack, args=(beside_training,), name="spare-imports", daemon=True)
    importer.start()
    line = sys.stdin.readline()
    if not line.strip():
        return None
    importer.join()  # a job that comes before the imports end waits for the rest of them
    job_id, attempt, log_path = line.rstrip("\n").split(" ", 2)
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.argv = [sys.argv[0], job_id, attempt]  # Lightning starts DDP ranks > 0 with this process's argv
    return job_id, int(attempt)


def _import_the_stack(beside_training: bool) -> None:
    """The imports a cold attempt pays after its start; beside a training, at the lowest priority."""
    if beside_training and sys.platform == "linux":  # elsewhere a thread id is not a target of setpriority
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except OSError:
            pass
    from worker.training import recipe  # noqa: F401
