"""POST /v1/jobs/{id}/evaluations: the body, the spec the job stores, and the evaluation as the API shows it."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from app.jobs.schemas import JobError, Progress, StrictModel

MAX_TOP_K = 1000
ClassName = Annotated[str, Field(min_length=1, max_length=200)]


class EvaluationIn(StrictModel):
    """What a user asks: the dataset to run the job's model over, how its classes name the model's, top-k."""

    dataset_id: str = Field(min_length=1, max_length=32, description="An uploaded dataset (POST /v1/datasets)")
    class_map: dict[ClassName, ClassName] | None = Field(
        None,
        max_length=10_000,
        description="dataset class -> model class, for each dataset class; needed when their names differ",
    )
    top_k: int = Field(5, ge=1, le=MAX_TOP_K, description="Classes written per image in predictions.csv")


class EvaluationSpec(EvaluationIn):
    """The body with the job it evaluates, as app/jobs/creation.create_chain takes it."""

    kind: Literal["evaluate"] = "evaluate"
    job_id: str = Field(min_length=1, max_length=64)


class ConfusionMatrix(BaseModel):
    labels: list[str] = Field(description="the model's classes, in its order")
    matrix: list[list[int]] = Field(description="matrix[true][predicted]: images of each pair of labels")


class EvaluationResult(BaseModel):
    metrics: dict[str, float] = Field(description="accuracy, f1, auroc, loss (those defined for the data)")
    confusion_matrix: ConfusionMatrix
    images: int
    splits: dict[str, int] = Field(description="images of each split of the dataset; every split is evaluated")
    seconds: float


class EvaluationOut(BaseModel):
    id: str
    status: str
    job_id: str = Field(description="the evaluated job")
    dataset_id: str
    class_map: dict[str, str] = Field(description="dataset class -> model class, for every dataset class")
    top_k: int
    created_at: datetime
    finished_at: datetime | None
    progress: Progress = Field(
        description="one step (max_epochs 1); its batches stream as progress events on /v1/jobs/{id}/metrics/stream"
    )
    error: JobError | None
    result: EvaluationResult | None = Field(description="once it succeeded")
    predictions_url: str | None = Field(description="predictions.csv, once it succeeded: an artifact of the evaluation")
