"""What GET /v1/jobs/{id}/transfer answers: a finetune beside its control run, epoch by epoch."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.jobs.schemas import JobError

# The validation series compared; the gain of each is finetune minus control (for val_loss, negative is better).
COMPARED = ("val_accuracy", "val_loss", "val_f1", "val_auroc")


class EpochComparison(BaseModel):
    epoch: int
    finetune: dict[str, float]
    control: dict[str, float]
    gain: dict[str, float] = Field(description="finetune minus control, for each series both have")


class Compute(BaseModel):
    epochs: int
    image_epochs: int = Field(description="training images seen, all epochs together")
    seconds: float = Field(description="training time of the recorded epochs")


class Side(BaseModel):
    job_id: str
    status: str
    best_val_accuracy: float | None
    best_epoch: int | None
    compute: Compute


class TransferOut(BaseModel):
    job_id: str = Field(description="the finetune")
    control_id: str
    control_kind: str = Field(description="scratch or frozen_random")
    finetune: Side
    control: Side
    epochs: list[EpochComparison]
    control_best_reached_at: dict[str, int | None] = Field(
        description="the first epoch at which each side reached the control's best val_accuracy (None: not yet)"
    )
    epochs_saved: int | None = Field(
        description="how many epochs sooner the finetune reached the control's best accuracy (negative: later)"
    )
    final_gain: dict[str, float] = Field(description="the gain at the last epoch both sides have")


class RankedBackbone(BaseModel):
    job_id: str | None = Field(description="None for the random backbone scored as a floor")
    score: float = Field(description="LogME: mean log evidence per sample; higher transfers better")
    backbone: dict[str, Any] = Field(description="architecture, cifar_stem")
    dataset: dict[str, Any] | None = Field(description="what the job trained on (its spec's dataset)")
    kind: str | None = Field(description="train or finetune; None for a random backbone")
    seconds: float = Field(description="feature extraction and scoring")


class RecommendationOut(BaseModel):
    id: str
    status: str
    dataset_id: str
    job_ids: list[str] = Field(description="the jobs whose backbones it ranks")
    sample_size: int
    created_at: datetime
    finished_at: datetime | None
    error: JobError | None
    ranking: list[RankedBackbone] | None = Field(description="best first, once it succeeded")
    sampled: int | None = Field(description="images scored (class-balanced)")
