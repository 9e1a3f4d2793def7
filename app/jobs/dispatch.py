"""Send runnable jobs to the training queue; a send that fails is retried by the reconciler."""

import logging
from collections.abc import Iterable

from sqlalchemy import update

from app.core.db import session_scope, utcnow
from app.jobs.models import Job
from worker.celery_app import RUN_JOB_TASK, TRAINING_QUEUE, celery_app

log = logging.getLogger(__name__)


def dispatch(job_ids: Iterable[str]) -> None:
    """Enqueue one message per job carrying only its id, then record when it was sent."""
    for job_id in job_ids:
        try:
            # retry=False: a broker that is down must not hang the request; the reconciler re-sends.
            celery_app.send_task(RUN_JOB_TASK, args=[job_id], queue=TRAINING_QUEUE, retry=False)
        except Exception as exc:  # noqa: BLE001 - any broker failure leaves the job for the reconciler
            log.warning("could not enqueue job %s (%s); the reconciler will retry", job_id, exc)
            continue
        with session_scope() as session:
            session.execute(update(Job).where(Job.id == job_id, Job.status == "queued").values(dispatched_at=utcnow()))
