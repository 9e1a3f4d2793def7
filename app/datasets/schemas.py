"""What a client sends to make a dataset from a URL, and a dataset as the API reports it."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from app.datasets.models import Dataset


class DatasetUrlIn(BaseModel):
    """POST /v1/datasets as JSON: the server downloads the archive itself."""

    model_config = ConfigDict(extra="forbid")

    url: HttpUrl
    name: str | None = Field(None, max_length=200)


class SizeSpread(BaseModel):
    min: int
    median: int
    max: int


class Problem(BaseModel):
    path: str
    reason: str


class DatasetOut(BaseModel):
    id: str
    project: str
    name: str | None
    status: str
    sha256: str | None
    bytes: int | None
    source_url: str | None
    created_at: datetime
    finished_at: datetime | None
    layout: str | None = Field(None, description="class_folders (a holdout is split off) or train_val")
    classes: list[str] = []
    splits: dict[str, dict[str, int]] = Field({}, description="Images per class of each split")
    images: int = 0
    image_sizes: dict[str, SizeSpread | None] = Field({}, description="width and height: min, median, max")
    formats: dict[str, int] = {}
    image_size: int | None = Field(None, description="The training image_size a job gets by default")
    problem_count: int = 0
    problems: list[Problem] = Field([], description="Files left out, and why (at most FLASHJOBS_DATASET_MAX_PROBLEMS)")


class DatasetPage(BaseModel):
    datasets: list[DatasetOut]
    next_cursor: str | None


def dataset_out(dataset: Dataset) -> DatasetOut:
    """The API's view of a dataset row."""
    summary: dict[str, Any] = dataset.summary or {}
    return DatasetOut(
        id=dataset.id,
        project=dataset.project_id,
        name=dataset.name,
        status=dataset.status,
        sha256=dataset.sha256,
        bytes=dataset.bytes,
        source_url=dataset.source_url,
        created_at=dataset.created_at,
        finished_at=dataset.finished_at,
        **summary,
    )
