"""What GET /v1/jobs/{id}/transfer answers: a finetune beside its control run, epoch by epoch."""

from pydantic import BaseModel, Field

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
