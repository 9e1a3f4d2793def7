"""Jobs and the datasets they name: what a job may start from, what it waits for, what blocks a delete."""

from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from app.core.errors import Invalid
from app.datasets.models import Dataset, is_dataset_id
from app.datasets.status import DatasetStatus
from app.jobs.models import Job
from app.jobs.status import ACTIVE, NOT_STARTED


def dataset_for_job(session: Session, *, dataset_id: str, loc: list[str | int], sees: Callable[[str], bool]) -> Dataset:
    """The dataset a job names, locked against a concurrent delete; 422 naming the field if it cannot train."""
    dataset = (
        session.scalar(select(Dataset).where(Dataset.id == dataset_id).with_for_update())
        if is_dataset_id(dataset_id)
        else None
    )
    if dataset is None or not sees(dataset.project_id):  # another project's dataset is as absent as an unknown one
        raise Invalid(loc, f"no dataset {dataset_id!r}")
    if dataset.status == DatasetStatus.INVALID:
        count = (dataset.summary or {}).get("problem_count", 0)
        raise Invalid(loc, f"dataset {dataset_id} is invalid ({count} problems: GET /v1/datasets/{dataset_id})")
    return dataset


def attach_dataset(
    session: Session, *, dataset: dict[str, Any], loc: list[str | int], sees: Callable[[str], bool]
) -> tuple[str | None, bool]:
    """(The uploaded dataset's id or None, whether it is ready) for a job's dataset spec; fills in image_size."""
    if not dataset.get("id"):
        return None, True
    row = dataset_for_job(session, dataset_id=dataset["id"], loc=[*loc, "id"], sees=sees)
    ready = row.status == DatasetStatus.READY
    if ready and dataset.get("image_size") is None:
        dataset["image_size"] = row.summary["image_size"]
    return row.id, ready


def dataset_ready_or_none() -> ColumnElement[bool]:
    """SQL: the job names no dataset, or a ready one (a job waits until this holds)."""
    ready = select(Dataset.id).where(Dataset.status == DatasetStatus.READY)
    return or_(Job.dataset_id.is_(None), Job.dataset_id.in_(ready))


def jobs_using(session: Session, *, dataset_id: str) -> int:
    """Jobs that have yet to run, or run now, on this dataset."""
    statuses = [str(status) for status in NOT_STARTED | ACTIVE]
    return (
        session.scalar(
            select(func.count()).select_from(Job).where(Job.dataset_id == dataset_id, Job.status.in_(statuses))
        )
        or 0
    )
