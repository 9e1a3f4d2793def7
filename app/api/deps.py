"""Dependencies the routes share: a SQL session and a job that must exist."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException
from sqlalchemy.orm import Session

from app.core.config import Settings, get_settings
from app.core.db import get_read_engine, get_sessionmaker
from app.jobs.models import Job


def get_session() -> Iterator[Session]:
    with get_sessionmaker()() as session:
        yield session


def get_read_session() -> Iterator[Session]:
    with Session(get_read_engine(), expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
ReadSessionDep = Annotated[Session, Depends(get_read_session)]  # GET routes: never waits for a writer
SettingsDep = Annotated[Settings, Depends(get_settings)]


def valid_job(job_id: str, session: ReadSessionDep) -> Job:
    """The job row, or 404."""
    job = session.get(Job, job_id)
    if job is None:
        raise HTTPException(status_code=404, detail=f"no job {job_id!r}")
    # Give the connection back before the route runs: under overload, requests waiting for a threadpool thread
    # must not hold the pool's connections (bench/polling.py: /healthz went unanswered without this).
    session.commit()
    return job


JobDep = Annotated[Job, Depends(valid_job)]
