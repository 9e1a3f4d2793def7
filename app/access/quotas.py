"""A project's quotas, checked where work or storage is added: queued jobs at submission, running jobs at claim,
dataset bytes at upload. NULL is unlimited, the default."""

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session, aliased

from app.access.models import Project
from app.core.errors import TooLarge, TooMany
from app.datasets.models import Dataset
from app.jobs.models import Job
from app.jobs.status import JobStatus

RETRY_QUEUED_S = 30  # a queued job takes minutes at least: asking again sooner only costs requests
QUEUED_STATUSES = (JobStatus.QUEUED, JobStatus.WAITING)


def check_queue_quota(session: Session, *, project_id: str, adding: int) -> None:
    """429 if `adding` more jobs would put the project over its max_queued (waiting jobs count as queued)."""
    limit = session.scalar(select(Project.max_queued).where(Project.id == project_id))
    if limit is None:
        return
    queued = session.scalar(
        select(func.count()).select_from(Job).where(Job.project_id == project_id, Job.status.in_(QUEUED_STATUSES))
    )
    if (queued or 0) + adding > limit:
        raise TooMany(
            f"project {project_id!r} has {queued} queued or waiting jobs and its max_queued quota is {limit}: "
            f"this submission adds {adding}",
            retry_after_s=RETRY_QUEUED_S,
        )


def lock_project_of(session: Session, *, job_id: str) -> None:
    """Serialise claims within the job's project (Postgres; SQLite's writers are serial anyway), so that two
    workers cannot both take the last running slot."""
    project = select(Job.project_id).where(Job.id == job_id).scalar_subquery()
    session.execute(select(Project.id).where(Project.id == project).with_for_update())


def under_running_quota() -> ColumnElement[bool]:
    """SQL, for the claim's UPDATE of `jobs`: its project has no max_running, or fewer jobs running than that."""
    running = aliased(Job)
    count = (
        select(func.count())
        .select_from(running)
        .where(running.project_id == Job.project_id, running.status == JobStatus.RUNNING)
        .scalar_subquery()
    )
    limit = select(Project.max_running).where(Project.id == Job.project_id).scalar_subquery()
    return or_(limit.is_(None), count < limit)


def held_back(session: Session, *, job_id: str) -> list[str]:
    """When a job of a project with max_running stops running: its project's oldest queued jobs, to offer again
    (a claim refused at the limit left them queued; a duplicate message is harmless)."""
    project_id, limit = session.execute(
        select(Job.project_id, Project.max_running).join(Project, Project.id == Job.project_id).where(Job.id == job_id)
    ).one()
    if limit is None:
        return []
    oldest = (
        select(Job.id)
        .where(Job.project_id == project_id, Job.status == JobStatus.QUEUED)
        .order_by(Job.created_at, Job.id)
        .limit(max(limit, 1))
    )
    return list(session.scalars(oldest))


def check_dataset_quota(session: Session, *, project_id: str, adding: int) -> None:
    """413 if `adding` bytes of archive would put the project's datasets over its max_dataset_bytes."""
    limit = session.scalar(select(Project.max_dataset_bytes).where(Project.id == project_id))
    if limit is None:
        return
    used = session.scalar(select(func.coalesce(func.sum(Dataset.bytes), 0)).where(Dataset.project_id == project_id))
    if (used or 0) + adding > limit:
        raise TooLarge(
            f"project {project_id!r} stores {used} bytes of datasets and its max_dataset_bytes quota is {limit}: "
            f"this archive of {adding} bytes does not fit (delete a dataset, or ask an admin to raise the quota)"
        )
