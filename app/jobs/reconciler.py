"""The reconciler: idempotent repairs that keep a lost message, a dead worker or a crash from stranding a job.

Safe to run anywhere, as often as wanted, in several processes at once: every repair is a conditional update.
"""

import logging
from datetime import timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import aliased

from app.core.config import Settings
from app.core.db import session_scope, utcnow
from app.datasets import service as datasets
from app.datasets.storage import sweep_incoming
from app.jobs import service
from app.jobs.dispatch import dispatch
from app.jobs.models import Job
from app.jobs.status import ACTIVE, FINAL, JobStatus

log = logging.getLogger(__name__)


def reconcile_once(settings: Settings) -> dict[str, int]:
    """One pass: re-queue lost attempts, settle orphaned children, re-send unclaimed queued jobs, end stalled
    dataset imports, sweep what dead uploads left."""
    now = utcnow()
    stale_before = now - timedelta(seconds=settings.heartbeat_timeout_s)
    counts = {"lost": 0, "settled": 0, "redispatched": 0}
    to_dispatch: list[str] = []

    with session_scope() as session:
        lost = session.execute(
            select(Job.id, Job.attempt).where(
                Job.status.in_(ACTIVE), or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < stale_before)
            )
        ).all()
        for job_id, attempt in lost:
            log.warning("job %s attempt %s stopped heartbeating; releasing it", job_id, attempt)
            to_dispatch += service.release_lost_attempt(
                session,
                job_id=job_id,
                attempt=attempt,
                max_attempts=settings.max_attempts,
                stale_before=stale_before,
                reason=f"attempt {attempt} stopped heartbeating for {settings.heartbeat_timeout_s:.0f} s (worker lost)",
            )
        counts["lost"] = len(lost)

        parent = aliased(Job)
        orphans = session.scalars(
            select(parent.id)
            .join(Job, Job.parent_id == parent.id)
            .where(Job.status == JobStatus.WAITING, parent.status.in_(FINAL))
            .distinct()
        ).all()
        for parent_id in orphans:
            to_dispatch += service.settle_children(session, parent_id=parent_id)
        counts["settled"] = len(orphans)

        resend_before = now - timedelta(seconds=settings.redispatch_after_s)
        unclaimed = session.scalars(
            select(Job.id).where(
                Job.status == JobStatus.QUEUED, or_(Job.dispatched_at.is_(None), Job.dispatched_at < resend_before)
            )
        ).all()
        to_dispatch += unclaimed
        counts["redispatched"] = len(set(to_dispatch))

        stalled = datasets.expire_stalled_imports(session, silent_since=stale_before)
        to_dispatch += stalled

    dispatch(dict.fromkeys(to_dispatch))
    counts["incoming_swept"] = sweep_incoming(
        settings.effective_artifact_dir, max_age_s=settings.dataset_incoming_max_age_s
    )
    return counts
