"""Dependencies the routes share: a SQL session for writes, and a job, dataset or webhook that must exist and be
visible."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path
from sqlalchemy.orm import Session

from app.api.auth import PrincipalDep
from app.core.bounds import PRINTABLE
from app.core.config import Settings, get_settings
from app.core.db import get_sessionmaker, read_in_thread
from app.core.errors import NotFound
from app.datasets import service as datasets
from app.datasets.models import Dataset, is_dataset_id
from app.jobs import service
from app.jobs.models import Job
from app.jobs.owners import project_of_job
from app.webhooks import service as webhooks
from app.webhooks.models import Webhook


def get_session() -> Iterator[Session]:
    with get_sessionmaker()() as session:
        yield session


# A job id with a control character is refused (422) before any query: Postgres text cannot hold NUL.
JobId = Annotated[str, Path(pattern=PRINTABLE)]
SessionDep = Annotated[Session, Depends(get_session)]  # routes that write; reads go through read_in_thread


async def current_settings() -> Settings:
    """get_settings, on the event loop: FastAPI runs a plain function dependency in a threadpool thread."""
    return get_settings()


SettingsDep = Annotated[Settings, Depends(current_settings)]


async def valid_job(job_id: JobId, principal: PrincipalDep) -> Job:
    """The job row, or NotFound (another project's job too); read in one thread hop (bench/polling.py: job)."""
    # The read's session closes before the route runs: requests waiting for a threadpool thread hold none of the
    # pool's connections.
    job = await read_in_thread(service.get_job, job_id=job_id)
    if job is None or not principal.sees(job.project_id):
        raise NotFound(f"no job {job_id!r}")
    return job


async def visible_job_id(job_id: JobId, principal: PrincipalDep) -> str:
    """The id of a job the key may see, or NotFound; from memory once the job is known (app/jobs/owners.py)."""
    project = await project_of_job(job_id)
    if project is None or not principal.sees(project):
        raise NotFound(f"no job {job_id!r}")
    return job_id


JobDep = Annotated[Job, Depends(valid_job)]
VisibleJobId = Annotated[str, Depends(visible_job_id)]  # for answers served from memory (views, curves)


async def valid_dataset(dataset_id: str, principal: PrincipalDep) -> Dataset:
    """The dataset row, or NotFound; read in one thread hop (an id that cannot be one is never looked up)."""
    dataset = await read_in_thread(datasets.find, dataset_id=dataset_id) if is_dataset_id(dataset_id) else None
    if dataset is None or not principal.sees(dataset.project_id):
        raise NotFound(f"no dataset {dataset_id!r}")
    return dataset


DatasetDep = Annotated[Dataset, Depends(valid_dataset)]


async def valid_webhook(
    webhook_id: Annotated[str, Path(pattern=PRINTABLE, max_length=64)], principal: PrincipalDep
) -> Webhook:
    """The webhook row, or NotFound (another project's too)."""
    webhook = await read_in_thread(webhooks.find, webhook_id=webhook_id)
    if webhook is None or not principal.sees(webhook.project_id):
        raise NotFound(f"no webhook {webhook_id!r}")
    return webhook


WebhookDep = Annotated[Webhook, Depends(valid_webhook)]
