"""The project of a job, from memory after the first read: a job never changes project and is never deleted."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.db import read_in_thread
from app.core.lru import LRU
from app.jobs.models import Job

_projects: LRU[str, str] = LRU(100_000)  # a few hundred bytes an entry


async def project_of_job(job_id: str) -> str | None:
    """The job's project, or None if there is no such job; a poll of a known job costs no SQL and no thread hop."""
    project = _projects.get(job_id)
    if project is None:
        project = await read_in_thread(_read, job_id)
        if project is not None:
            _projects.put(job_id, project)
    return project


def _read(session: Session, job_id: str) -> str | None:
    return session.scalar(select(Job.project_id).where(Job.id == job_id))


def clear() -> None:
    _projects.clear()
