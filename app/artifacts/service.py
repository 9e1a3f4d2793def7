"""Artifacts: registered by the attempt that made them (fenced), looked up by name, never by path."""

import hashlib
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.artifacts.models import Artifact
from app.core.db import utcnow
from app.jobs.models import Job
from app.jobs.service import fence


def sha256_of(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def register(session: Session, *, job_id: str, attempt: int, name: str, path: Path, artifact_dir: Path) -> bool:
    """Record a file the job wrote under artifact_dir; False if this attempt no longer owns the job."""
    if not fence(session, job_id=job_id, attempt=attempt):
        return False
    existing = session.scalar(select(Artifact).where(Artifact.job_id == job_id, Artifact.name == name))
    project_id = session.scalar(select(Job.project_id).where(Job.id == job_id))
    artifact = existing or Artifact(job_id=job_id, name=name, project_id=project_id)
    artifact.path = str(path.resolve().relative_to(artifact_dir.resolve()))
    artifact.size = path.stat().st_size
    artifact.sha256 = sha256_of(path)
    artifact.attempt = attempt
    artifact.created_at = utcnow()
    session.add(artifact)
    return True


def list_for_job(session: Session, *, job_id: str) -> list[Artifact]:
    return list(session.scalars(select(Artifact).where(Artifact.job_id == job_id).order_by(Artifact.name)))


def get(session: Session, *, job_id: str, name: str) -> Artifact | None:
    return session.scalar(select(Artifact).where(Artifact.job_id == job_id, Artifact.name == name))
