"""The Celery task: claim a job, run its training in a child process, heartbeat, record the outcome."""

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading

import redis
from celery import shared_task
from celery.signals import worker_ready, worker_shutting_down
from sqlalchemy.exc import SQLAlchemyError

from app.core.config import Settings, get_settings
from app.core.db import session_scope
from app.core.queue import RUN_JOB_TASK
from app.jobs import service
from app.jobs.claim import claim_next
from app.jobs.dispatch import dispatch
from app.jobs.models import Job
from app.jobs.status import FINAL, JobStatus
from app.metrics import live
from worker.run_attempt import EXIT_YIELDED, outcome_path
from worker.spare import SpareAttempt

log = logging.getLogger(__name__)
shutting_down = threading.Event()
spare = SpareAttempt()


@worker_ready.connect
def _on_ready(**_kwargs: object) -> None:
    if get_settings().warm_attempts:
        spare.start()


@worker_shutting_down.connect
def _on_shutdown(**_kwargs: object) -> None:
    shutting_down.set()  # the running attempt checkpoints and hands its job back to the queue
    spare.stop()


@shared_task(name=RUN_JOB_TASK)  # bound to worker/celery_app.py's app when the worker loads this module
def run_job(job_id: str) -> None:
    """Run the best queued job (app/jobs/claim.py), which need not be `job_id`; none queued: nothing to do."""
    settings = get_settings()
    owner = f"{socket.gethostname()}:{os.getpid()}"
    with session_scope() as session:
        job = claim_next(session, owner=owner)
    if job is None:
        log.info("message for job %s: no job is queued (claimed, cancelled or finished); nothing to do", job_id)
        return
    try:
        supervise(job_id=job.id, attempt=job.attempt, settings=settings)
    finally:
        if settings.warm_attempts and not shutting_down.is_set():
            spare.start()  # one that died with the attempt, or was never started (a cold attempt ended early)


def supervise(*, job_id: str, attempt: int, settings: Settings) -> None:
    """Watch the training process: heartbeat, forward a cancel, and turn its exit into the job's next state."""
    work_dir = settings.effective_artifact_dir / job_id
    work_dir.mkdir(parents=True, exist_ok=True)
    log_path = work_dir / f"attempt-{attempt}.log"
    with log_path.open("ab") as log_file:
        child = spare.take(job_id=job_id, attempt=attempt, log_path=log_path) if settings.warm_attempts else None
        warm = child is not None
        if child is None:
            # Own process group, so that losing the job kills every process of the attempt (ranks, loaders).
            child = subprocess.Popen(
                [sys.executable, "-m", "worker.run_attempt", job_id, str(attempt)],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        log.info("job %s attempt %s: training in %s process %s", job_id, attempt, "warm" if warm else "new", child.pid)
        if settings.warm_attempts and not shutting_down.is_set():
            spare.start(beside_training=True)  # the next job's, yielding to this one (worker/spare.py says why now)
        signalled: set[int] = set()
        while True:
            try:
                returncode = child.wait(timeout=settings.heartbeat_s)
                _kill_group(child.pid)  # what the attempt left behind: its DataLoader workers (run_attempt.exit_now)
                break
            except subprocess.TimeoutExpired:
                pass
            if shutting_down.is_set():
                _signal_once(child, signal.SIGUSR2, signalled)
            try:
                with session_scope() as session:
                    status = service.heartbeat(session, job_id=job_id, attempt=attempt)
            except SQLAlchemyError as exc:  # a database blip must not kill hours of training
                log.warning("heartbeat for job %s failed: %s", job_id, exc)
                continue
            if status is None:  # a newer attempt owns the job now: this one must not go on writing
                log.warning("job %s attempt %s lost ownership; stopping it", job_id, attempt)
                _kill_group(child.pid)
                child.wait()
                return
            if status == JobStatus.CANCELLING:
                _signal_once(child, signal.SIGUSR1, signalled)
    _record_outcome(job_id=job_id, attempt=attempt, returncode=returncode, settings=settings)


def _kill_group(pgid: int) -> None:
    """SIGKILL every process of an attempt's group (it has its own: start_new_session)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # nothing left


def _signal_once(child: subprocess.Popen[bytes], signum: int, signalled: set[int]) -> None:
    # The training process only: its DataLoader workers share the group and would die of SIGUSR1.
    if signum not in signalled:
        signalled.add(signum)
        os.kill(child.pid, signum)


def _record_outcome(*, job_id: str, attempt: int, returncode: int, settings: Settings) -> None:
    path = outcome_path(settings.effective_artifact_dir / job_id, attempt)
    with session_scope() as session:
        if path.exists():
            outcome = json.loads(path.read_text())
            error = tuple(outcome["error"]) if outcome["error"] else None
            runnable = service.finish(
                session, job_id=job_id, attempt=attempt, status=JobStatus(outcome["status"]), error=error
            )
        else:
            reason = _describe_exit(returncode)
            log.warning("job %s attempt %s ended without an outcome: %s", job_id, attempt, reason)
            # A worker asked to stop hands its job back; that attempt was not lost and does not count.
            preempted = returncode == EXIT_YIELDED and shutting_down.is_set()
            runnable = service.release_lost_attempt(
                session,
                job_id=job_id,
                attempt=attempt,
                reason=reason,
                max_attempts=settings.max_attempts,
                preempted=preempted,
            )
        job = session.get(Job, job_id, populate_existing=True)
        status = job.status if job else None
    dispatch(runnable)
    if status in FINAL:
        try:
            live.publish(
                redis.Redis.from_url(settings.effective_redis_url),
                job_id=job_id,
                event="end",
                payload={"status": status},
            )
        except redis.RedisError:
            pass  # readers see the end in SQL


def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        name = signal.Signals(-returncode).name
        hint = " (the kernel's out-of-memory killer sends SIGKILL)" if returncode == -signal.SIGKILL else ""
        return f"training process killed by {name}{hint}"
    if returncode == EXIT_YIELDED:
        return "training process yielded (preempted or worker stopping); it resumes from its checkpoint"
    return f"training process exited with code {returncode} without an outcome"
