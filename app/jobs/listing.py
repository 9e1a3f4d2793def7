"""Reading jobs: one by id, and newest-first pages with keyset cursors (app/jobs/service.py re-exports these)."""

import base64
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from app.core.bounds import CONTROL_CHARACTERS
from app.core.errors import Invalid
from app.jobs.models import Job
from app.jobs.status import JobStatus


def get_job(session: Session, *, job_id: str) -> Job | None:
    return session.get(Job, job_id)


def list_jobs(
    session: Session, *, status: JobStatus | None, kind: str | None, limit: int, cursor: str | None
) -> tuple[list[Job], str | None]:
    """Newest first, keyset-paginated on (created_at, id)."""
    query = select(Job).order_by(Job.created_at.desc(), Job.id.desc()).limit(limit + 1)
    if status:
        query = query.where(Job.status == status)
    if kind:
        query = query.where(Job.kind == kind)
    if cursor:
        created_at, job_id = decode_cursor(cursor)
        # A row value is an index range on both backends; the equivalent OR form walks the index from the top.
        query = query.where(tuple_(Job.created_at, Job.id) < tuple_(created_at, job_id))
    rows = list(session.scalars(query))
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor(last.created_at, last.id)


def encode_cursor(created_at: datetime, job_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{job_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created_at, job_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        if CONTROL_CHARACTERS.search(job_id):  # Postgres text cannot hold NUL
            raise ValueError(job_id)
        return datetime.fromisoformat(created_at), job_id
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid(["query", "cursor"], "not a cursor this API returned") from exc
