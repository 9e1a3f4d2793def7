"""A project's quotas, checked where work or storage is added: queued jobs at submission, running jobs at claim,
dataset bytes at upload. NULL is unlimited, the default."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.access.models import Project
from app.core.errors import TooLarge, TooMany
from app.datasets.models import Dataset
from app.jobs.models import Job

RETRY_QUEUED_S = 30  # a queued job takes minutes at least: asking again sooner only costs requests
QUEUED_STATUSES = ("queued", "waiting")


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


def running_limit(session: Session, *, project_id: str) -> int | None:
    return session.scalar(select(Project.max_running).where(Project.id == project_id))


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
