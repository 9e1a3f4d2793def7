"""Dependencies the routes share: a SQL session and a job that must exist."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Path
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from app.core.bounds import PRINTABLE
from app.core.config import Settings, get_settings
from app.core.db import get_read_engine, get_sessionmaker
from app.jobs.models import Job


def get_session() -> Iterator[Session]:
    with get_sessionmaker()() as session:
        yield session


def get_read_session() -> Iterator[Session]:
    with Session(get_read_engine()) as session:
        yield session


# A job id with a control character is refused (422) before any query: Postgres text cannot hold NUL.
JobId = Annotated[str, Path(pattern=PRINTABLE)]
SessionDep = Annotated[Session, Depends(get_session)]
ReadSessionDep = Annotated[Session, Depends(get_read_session)]  # GET routes: never waits for a writer
SettingsDep = Annotated[Settings, Depends(get_settings)]


async def valid_job(job_id: JobId) -> Job:
    """The job row, or 404. Async, with its read in one thread hop: a sync dependency on a session would cost
    three (session, lookup, session close) before the route's own (bench/polling.py: job)."""
    job = await run_in_threadpool(_read_job, job_id)
    if job is None:
        raise HTTPException(status_code=404, detail=f"no job {job_id!r}")
    return job


def _read_job(job_id: str) -> Job | None:
    # The session ends here, so the connection is back in the pool before the route runs: under overload,
    # requests waiting for a threadpool thread must not hold the pool's connections (bench/polling.py).
    with Session(get_read_engine()) as session:  # closing keeps the loaded attributes (nothing commits here)
        return session.get(Job, job_id)


JobDep = Annotated[Job, Depends(valid_job)]
