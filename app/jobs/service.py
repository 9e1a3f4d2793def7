"""Job lifecycle: read, list, cancel, claim, heartbeat, finish; routes, workers and the reconciler call these.
Creation is app/jobs/creation.py.

Every transition is a conditional UPDATE (`WHERE status = expected`), so two racing actors cannot both win, and
marks the job changed (app/jobs/changes.py) so that API processes re-read what they cached of it.
Functions that make jobs runnable return their ids; the caller dispatches them after the commit.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.access.quotas import held_back, lock_project_of, under_running_quota
from app.core.db import utcnow
from app.core.errors import Conflict, NotFound
from app.core.pages import newest_first
from app.datasets.usage import dataset_ready_or_none
from app.jobs.changes import mark_changed
from app.jobs.models import Job
from app.jobs.status import ACTIVE, FINAL, NOT_STARTED, JobStatus

# ---------------------------------------------------------------- reading


def get_job(session: Session, *, job_id: str) -> Job | None:
    return session.get(Job, job_id)


def list_jobs(
    session: Session,
    *,
    project: str | None,
    status: JobStatus | None,
    kind: str | None,
    limit: int,
    cursor: str | None,
    parent_id: str | None = None,
) -> tuple[list[Job], str | None]:
    """Newest first, keyset-paginated on (created_at, id); one project's (every project's when None), parent_id
    keeps one job's children."""
    filters = ((Job.project_id, project), (Job.parent_id, parent_id), (Job.status, status), (Job.kind, kind))
    query = select(Job).where(*(column == value for column, value in filters if value))
    return newest_first(session, query, Job, limit=limit, cursor=cursor)


# ---------------------------------------------------------------- transitions


def request_cancel(session: Session, *, job_id: str) -> list[str]:
    """Cancel at once if not started, cooperatively if running; again changes nothing. Returns ids to dispatch."""
    for _ in range(5):  # each pass reads the status, then tries the matching conditional update
        status = session.scalar(select(Job.status).where(Job.id == job_id))
        if status is None:
            raise NotFound(f"no job {job_id!r}")
        if status in (JobStatus.CANCELLING, JobStatus.CANCELLED):
            return []
        if status in FINAL:
            raise Conflict(f"job {job_id} is already {status}")
        if status in NOT_STARTED:
            if _transition(session, job_id, (status,), JobStatus.CANCELLED, error=_cancelled("before it started")):
                return settle_children(session, parent_id=job_id)
        elif _transition(session, job_id, (JobStatus.RUNNING,), JobStatus.CANCELLING):
            return []
    raise Conflict(f"job {job_id} changed state while cancelling; try again")


def _cancelled(when: str) -> tuple[str, str]:
    """The error of a cancelled job, whenever it was cancelled: its type names the status, its message when."""
    return JobStatus.CANCELLED.value, f"cancelled {when}"


def _cancelled_while_running(session: Session, job_id: str) -> tuple[str, str]:
    done, total = session.execute(select(Job.epochs_done, Job.max_epochs).where(Job.id == job_id)).one()
    return _cancelled(f"while running, after {done} of {total} epochs")


def claim(session: Session, *, job_id: str, owner: str) -> Job | None:
    """queued -> running with a new attempt number; None if someone else has it or it was cancelled."""
    now = utcnow()
    lock_project_of(session, job_id=job_id)
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.QUEUED, under_running_quota())  # else it stays queued
        .values(
            status=JobStatus.RUNNING,
            attempt=Job.attempt + 1,
            owner=owner,
            heartbeat_at=now,
            error_type=None,
            error_message=None,
        )
        .returning(Job.id)
    ).first()
    if result is None:
        return None
    mark_changed(session, job_id)
    session.execute(update(Job).where(Job.id == job_id, Job.started_at.is_(None)).values(started_at=now))
    job = session.get(Job, job_id, populate_existing=True)
    return job


def heartbeat(session: Session, *, job_id: str, attempt: int) -> str | None:
    """Record that this attempt lives; returns the job's status, or None if the attempt lost the job."""
    return session.execute(
        update(Job)
        .where(Job.id == job_id, Job.attempt == attempt, Job.status.in_(ACTIVE))
        .values(heartbeat_at=utcnow())
        .returning(Job.status)
    ).scalar()


def record_warnings(session: Session, *, job_id: str, attempt: int, warnings: list[dict[str, Any]]) -> bool:
    """Store what the worker found at the job's start (app/jobs/schemas.JobWarning); False: the attempt lost it."""
    return _record(session, job_id, attempt, warnings=warnings)


def record_result(session: Session, *, job_id: str, attempt: int, result: dict[str, Any]) -> bool:
    """Store what a job that computes rather than trains answers with, which is the whole of its work (its
    progress reads 1 of 1 from then on); False: the attempt lost the job."""
    return _record(session, job_id, attempt, result=result, epochs_done=Job.max_epochs)


def _record(session: Session, job_id: str, attempt: int, **values: Any) -> bool:
    done = session.execute(
        update(Job).where(Job.id == job_id, Job.attempt == attempt, Job.status.in_(ACTIVE)).values(**values)
    )
    if done.rowcount:
        mark_changed(session, job_id)
    return bool(done.rowcount)


def fence(session: Session, *, job_id: str, attempt: int) -> bool:
    """Lock the job row for this attempt's write; False means a newer attempt (or an end) superseded it."""
    return heartbeat(session, job_id=job_id, attempt=attempt) is not None


def finish(
    session: Session, *, job_id: str, attempt: int, status: JobStatus, error: tuple[str, str] | None = None
) -> list[str]:
    """End this attempt as succeeded, failed or cancelled; settles the children. Returns ids to dispatch."""
    assert status in FINAL
    if status == JobStatus.CANCELLED and error is None:
        error = _cancelled_while_running(session, job_id)
    if not _transition(session, job_id, ACTIVE, status, attempt=attempt, error=error):
        return []
    return settle_children(session, parent_id=job_id) + held_back(session, job_id=job_id)


def release_lost_attempt(
    session: Session,
    *,
    job_id: str,
    attempt: int,
    reason: str,
    max_attempts: int,
    stale_before: datetime | None = None,
    preempted: bool = False,
) -> list[str]:
    """An attempt ended unfinished: queue the job again, or fail it once max_attempts attempts were lost.

    A preempted attempt (the worker was asked to stop and checkpointed) is not lost: it never counts.
    """
    job = session.get(Job, job_id, populate_existing=True)
    if job is None or job.attempt != attempt or job.status not in ACTIVE:
        return []
    guard = [Job.id == job_id, Job.attempt == attempt, Job.status == job.status]
    if stale_before is not None:
        guard.append(Job.heartbeat_at < stale_before)
    lost = job.lost_attempts + (0 if preempted else 1)
    if job.status == JobStatus.CANCELLING:  # it was being cancelled anyway
        error_type, when = _cancelled_while_running(session, job_id)
        values = {"status": JobStatus.CANCELLED, "error_type": error_type, "error_message": f"{when} ({reason})"}
    elif lost < max_attempts:
        values = {"status": JobStatus.QUEUED, "owner": None, "dispatched_at": None, "lost_attempts": lost}
        values |= {"error_type": "retrying", "error_message": reason}
    else:
        values = {"status": JobStatus.FAILED, "error_type": "worker_lost", "lost_attempts": lost}
        values["error_message"] = f"{reason}; gave up after {lost} lost attempts"
    if values["status"] in FINAL:
        values["finished_at"] = utcnow()
    done = session.execute(update(Job).where(*guard).values(**values))
    if values["status"] != JobStatus.QUEUED:
        return _settle_if_changed(session, job_id, done.rowcount)
    if done.rowcount:
        mark_changed(session, job_id)
    return [job_id]


def _settle_if_changed(session: Session, job_id: str, rowcount: int) -> list[str]:
    if not rowcount:
        return []
    mark_changed(session, job_id)
    return settle_children(session, parent_id=job_id)


def settle_children(session: Session, *, parent_id: str) -> list[str]:
    """Queue the waiting children of a succeeded job; fail those of a failed or cancelled one, recursively."""
    parent = session.get(Job, parent_id, populate_existing=True)
    if parent is None or parent.status not in FINAL:
        return []
    waiting = select(Job.id).where(Job.parent_id == parent_id, Job.status == JobStatus.WAITING)
    if parent.status == JobStatus.SUCCEEDED:  # children whose dataset still imports go on waiting for it
        return release_waiting(session, job_ids=list(session.scalars(waiting.where(dataset_ready_or_none()))))
    why = f"parent job {parent_id} {parent.status}" + (
        f" ({parent.error_type}: {parent.error_message})" if parent.status == JobStatus.FAILED else ""
    )
    return fail_waiting(session, job_ids=list(session.scalars(waiting)), error=("upstream_failed", why))


def release_waiting(session: Session, *, job_ids: Sequence[str]) -> list[str]:
    """waiting -> queued for jobs whose wait is over; returns those that moved, to dispatch."""
    return [job_id for job_id in job_ids if _transition(session, job_id, (JobStatus.WAITING,), JobStatus.QUEUED)]


def fail_waiting(session: Session, *, job_ids: Sequence[str], error: tuple[str, str]) -> list[str]:
    """waiting -> failed with `error`, and their waiting children after them; returns the ids to dispatch."""
    to_dispatch: list[str] = []
    for job_id in job_ids:
        if _transition(session, job_id, (JobStatus.WAITING,), JobStatus.FAILED, error=error):
            to_dispatch += settle_children(session, parent_id=job_id)
    return to_dispatch


def _transition(
    session: Session,
    job_id: str,
    from_statuses: Sequence[str],
    to_status: JobStatus,
    *,
    attempt: int | None = None,
    error: tuple[str, str] | None = None,
) -> bool:
    values: dict[str, Any] = {"status": to_status}
    if to_status in FINAL:
        values["finished_at"] = utcnow()
    if error is not None:
        values["error_type"], values["error_message"] = error
    elif to_status in FINAL:
        values["error_type"] = values["error_message"] = None
    guard = [Job.id == job_id, Job.status.in_(from_statuses)]
    if attempt is not None:
        guard.append(Job.attempt == attempt)
    if session.execute(update(Job).where(*guard).values(**values)).rowcount != 1:
        return False
    mark_changed(session, job_id)
    return True
