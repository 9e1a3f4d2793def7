"""Which queued job a free worker runs next: decided by SQL, not by the order of messages in Redis.

A queue message says only "a job may be runnable". The worker that takes it claims the best queued job: highest
priority first; among equals, the project with the fewest jobs running (one project's hundred queued jobs do not
starve another's one), then the oldest by creation (a job re-queued after its worker was lost keeps its place
ahead of later ones). A project at its max_running quota is passed over. Each dispatch sends one message per
job, so there are never fewer messages than queued jobs; a duplicate or stale message finds nothing to claim,
and a lost one is re-sent by the reconciler.
"""

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from app.access.quotas import under_running_quota
from app.jobs.models import Job
from app.jobs.service import claim
from app.jobs.status import JobStatus

CLAIM_TRIES = 5  # another worker may take the candidate first (Postgres): try the next best


def claim_next(session: Session, *, owner: str) -> Job | None:
    """queued -> running for the best queued job, or None when none is queued (or every one is held back)."""
    running = aliased(Job)
    running_in_its_project = (
        select(func.count())
        .select_from(running)
        .where(running.project_id == Job.project_id, running.status == JobStatus.RUNNING)
        .scalar_subquery()
    )
    best_first = (
        select(Job.id)
        .where(Job.status == JobStatus.QUEUED, under_running_quota())
        .order_by(Job.priority.desc(), running_in_its_project, Job.created_at, Job.id)
        .limit(1)
    )
    for _ in range(CLAIM_TRIES):
        job_id = session.scalar(best_first)
        if job_id is None:
            return None
        job = claim(session, job_id=job_id, owner=owner)
        if job is not None:
            return job
    return None
