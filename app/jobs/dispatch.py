"""Send runnable jobs to the training queue; a send that fails is retried by the reconciler."""

import logging
from collections.abc import Iterable

from sqlalchemy import select, update

from app.core.db import session_scope, utcnow
from app.core.queue import send_run_job
from app.jobs.models import Job
from app.jobs.status import JobStatus

log = logging.getLogger(__name__)


def dispatch(job_ids: Iterable[str]) -> None:
    """Enqueue one message per job carrying only its id, then record when it was sent."""
    for job_id in job_ids:
        try:
            send_run_job(job_id)
        except Exception as exc:  # any broker failure leaves the job for the reconciler
            log.warning("could not enqueue job %s (%s); the reconciler will retry", job_id, exc)
            continue
        with session_scope() as session:
            session.execute(
                update(Job).where(Job.id == job_id, Job.status == JobStatus.QUEUED).values(dispatched_at=utcnow())
            )


def dispatch_queued() -> int:
    """Send every queued job to the queue again (duplicates are harmless: a job is claimed once); how many."""
    with session_scope() as session:
        job_ids = session.scalars(select(Job.id).where(Job.status == JobStatus.QUEUED)).all()
    dispatch(job_ids)
    return len(job_ids)
