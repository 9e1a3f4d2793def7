"""An expected duration, as POST /v1/estimates answers and GET /v1/jobs/{id} shows the one a job started with."""

from pydantic import BaseModel, Field


class Estimate(BaseModel):
    seconds: float | None = Field(description="Expected run time from start to end; None without a basis")
    per_epoch_seconds: float | None = Field(description="Expected training seconds of one epoch")
    basis_runs: int = Field(description="Succeeded runs of the same kind, backbone, image size, devices and precision")
    images_per_second: float | None = Field(description="Training images per second, pooled over the basis runs")
    train_images: int | None = Field(None, description="Training images per epoch of the spec's dataset")
    reason: str | None = Field(description="Why there is no estimate (seconds is None)")
