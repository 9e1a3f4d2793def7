"""The job spec (what a user submits) and the job as the API reports it."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.core.bounds import CONTROL_CHARACTERS, SQL_INT_MAX
from app.estimates.schemas import Estimate
from app.jobs.status import FINAL, JobStatus

# Backbones a worker can build, with their feature width. The API never imports torch, so this is
# the door's copy of the registry; tests check it against Flash's own.
BACKBONES: dict[str, int] = {"resnet18": 512, "resnet34": 512, "resnet50": 2048, "resnet101": 2048, "resnet152": 2048}
NUM_CLASSES = {"cifar10": 10, "cifar100": 100}


# Bounded so that every number of a spec fits the SQL INTEGER it may be stored in; tighter limits are settings
# (app/jobs/limits.py).
Count = Annotated[int, Field(ge=0, le=SQL_INT_MAX)]


class StrictModel(BaseModel):
    """Unknown fields, NaN and infinities (`NaN`, `1e999`) and control characters in strings are refused."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        if isinstance(value, str) and CONTROL_CHARACTERS.search(value):
            raise ValueError("must not contain control characters (NUL, newlines, tabs, ...)")
        return value


class DatasetSpec(StrictModel):
    """Where the images come from: a named dataset (folders are relative to the service's data directory), or
    the id of an uploaded one (POST /v1/datasets)."""

    name: Literal["cifar10", "cifar100", "folder"] | None = None
    id: str | None = Field(None, min_length=1, max_length=32, description="An uploaded dataset (POST /v1/datasets)")
    train_folder: str | None = Field(None, max_length=1024)
    val_folder: str | None = Field(None, max_length=1024)
    train_limit: int | None = Field(None, ge=1, le=SQL_INT_MAX, description="Class-balanced subset of training")
    val_limit: int | None = Field(None, ge=1, le=SQL_INT_MAX, description="Class-balanced subset of the validation set")
    image_size: int | None = Field(
        None,
        ge=8,
        le=SQL_INT_MAX,
        description="Default 32 for CIFAR, the images' median "
        "side for folders and uploads; at most FLASHJOBS_MAX_IMAGE_SIZE",
    )

    @field_validator("train_folder", "val_folder")
    @classmethod
    def _relative_inside_data_dir(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if value.startswith(("/", "\\")) or (len(value) > 1 and value[1] == ":"):
            raise ValueError("must be relative to the data directory, not an absolute path")
        if ".." in value.replace("\\", "/").split("/"):
            raise ValueError("must stay inside the data directory ('..' is not allowed)")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> "DatasetSpec":
        if (self.name is None) == (self.id is None):
            raise ValueError("give exactly one of name (cifar10, cifar100, folder) or id (an uploaded dataset)")
        if self.id is not None and (self.train_folder or self.val_folder):
            raise ValueError("train_folder and val_folder apply to name 'folder', not to an uploaded dataset")
        return self


class ModelSpec(StrictModel):
    backbone: str = Field("resnet18", max_length=64)
    # The CIFAR stem (3x3 first conv, no max-pool) keeps 32x32 images from shrinking to 1x1 too early.
    cifar_stem: bool = True

    @field_validator("backbone")
    @classmethod
    def _known_backbone(cls, value: str) -> str:
        if value not in BACKBONES:
            raise ValueError(f"unknown backbone {value!r}; known: {', '.join(BACKBONES)}")
        return value


class InitFrom(StrictModel):
    """The job whose backbone starts this one: an existing job id, an earlier step of a chain, or (the control
    run `frozen_random` is one) a randomly initialised backbone."""

    job_id: str | None = Field(None, max_length=64)
    step: int | None = Field(None, ge=0, le=SQL_INT_MAX)
    random: bool | None = Field(None, description="true: a random backbone of the spec's model")


class ControlSpec(StrictModel):
    """A control run created with a finetune: what it would reach without its parent's backbone."""

    # scratch: the same architecture trained from random weights (a train job); frozen_random: a random backbone
    # kept frozen under the finetune's `freeze` strategy, so that only the head trains.
    kind: Literal["scratch", "frozen_random"]


class FinetuneSpec(StrictModel):
    """Flash's finetuning strategies; the arguments each needs are checked with the whole spec."""

    strategy: Literal["freeze", "no_freeze", "freeze_unfreeze", "unfreeze_milestones"] = "freeze"
    unfreeze_epoch: int | None = Field(None, ge=0, le=SQL_INT_MAX, description="freeze_unfreeze: epoch to unfreeze at")
    milestones: tuple[Count, Count] | None = Field(None, description="unfreeze_milestones: (e1, e2)")
    num_layers: int | None = Field(None, ge=1, le=SQL_INT_MAX, description="unfreeze_milestones: layers unfrozen at e1")
    # False keeps a frozen backbone bit-identical, BatchNorm statistics included; Flash's default (True)
    # lets BatchNorm layers keep adapting while the rest is frozen.
    train_bn: bool = False


class TrainerSpec(StrictModel):
    # The upper bounds here are what SQL and the libraries hold; the working maxima are settings (app/jobs/limits.py).
    max_epochs: int = Field(10, ge=1, le=SQL_INT_MAX, description="At most FLASHJOBS_MAX_EPOCHS")
    batch_size: int = Field(128, ge=1, le=SQL_INT_MAX, description="At most FLASHJOBS_MAX_BATCH_SIZE")
    learning_rate: float = Field(0.1, gt=0, le=10)
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    precision: Literal["32", "16", "bf16"] = "32"
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Lightning seeds numpy, which takes 32 bits")
    devices: int = Field(
        1, ge=1, le=SQL_INT_MAX, description="GPUs; more than one uses Lightning's DDP; at most FLASHJOBS_MAX_DEVICES"
    )
    num_workers: int = Field(2, ge=0, le=64, description="DataLoader worker processes")


class MetricsSpec(StrictModel):
    # Macro by default: micro F1 equals accuracy for single-label classification.
    f1_average: Literal["macro", "micro", "weighted"] = "macro"


class JobSpec(StrictModel):
    """A training (fit) or finetune job as submitted."""

    kind: Literal["train", "finetune"]
    priority: Literal["low", "normal", "high"] = Field(
        "normal", description="A free worker takes the highest-priority queued job first, then the oldest"
    )
    dataset: DatasetSpec
    model: ModelSpec | None = None  # a finetune job defaults to its parent's model
    init_from: InitFrom | None = None
    finetune: FinetuneSpec | None = None
    control: ControlSpec | None = Field(None, description="finetune only: also run a control (GET /jobs/{id}/transfer)")
    trainer: TrainerSpec = TrainerSpec()
    metrics: MetricsSpec = MetricsSpec()
    reuse: Literal["never", "if_identical"] = Field(
        "never",
        description="if_identical: answer with a succeeded job of the same weights-relevant spec and data instead",
    )


class RecommendationSpec(StrictModel):
    """POST /v1/recommendations: rank backbones for a dataset by LogME, as a short job on a worker."""

    kind: Literal["recommend"] = "recommend"
    dataset_id: str = Field(min_length=1, max_length=32, description="An uploaded dataset (POST /v1/datasets)")
    job_ids: list[Annotated[str, Field(max_length=64)]] | None = Field(
        None, max_length=100, description="Succeeded jobs whose backbones to rank; default the newest ones"
    )
    sample_size: int = Field(
        500,
        ge=2,
        le=SQL_INT_MAX,
        description="Class-balanced training images scored; at most FLASHJOBS_RECOMMEND_MAX_SAMPLE",
    )
    seed: int = Field(0, ge=0, le=2**32 - 1)
    include_random: bool = Field(True, description="Also score a random backbone of each architecture, as a floor")


class ChainIn(StrictModel):
    steps: list[JobSpec] = Field(min_length=1, max_length=1000, description="At most FLASHJOBS_MAX_CHAIN_STEPS")


class Progress(BaseModel):
    epoch: int
    max_epochs: int


class JobError(BaseModel):
    type: str
    message: str


class JobWarning(BaseModel):
    """Something the worker found that the user should know; `type` says what (val_in_parent_train: the
    validation images the parent trained on, `count` of them, `exact` and `perceptual` matches, `examples`)."""

    model_config = ConfigDict(extra="allow")

    type: str
    count: int | None = None
    examples: list[dict[str, Any]] = []
    message: str | None = None


class JobOut(BaseModel):
    id: str
    project: str
    kind: str
    status: JobStatus
    spec: dict[str, Any]
    parent_id: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attempt: int
    progress: Progress
    error: JobError | None
    latest_metrics: dict[str, float]
    warnings: list[JobWarning] | None = Field(description="None until the worker has checked")
    control_id: str | None = Field(description="A finetune's control run")
    control_of: str | None = Field(description="A control run's finetune")
    result: dict[str, Any] | None = Field(description="What a recommend or evaluate job answers with, once it has")
    estimate: Estimate | None = Field(None, description="The expected duration the job started with")
    eta_seconds: float | None = Field(
        None, description="Seconds left: epochs left times the last epoch's (or the estimate's)"
    )
    reused: bool = Field(False, description="This answer is an earlier identical job, not a new one")
    reused_from: str | None = Field(None, description="The reused job's id, when reused")


class JobPage(BaseModel):
    jobs: list[JobOut]
    next_cursor: str | None


class ChainOut(BaseModel):
    jobs: list[JobOut]


def job_out(job: Any) -> JobOut:
    """The API's view of a job row."""
    return JobOut(
        id=job.id,
        project=job.project_id,
        kind=job.kind,
        status=job.status,
        spec=job.spec,
        parent_id=job.parent_id,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        attempt=job.attempt,
        progress=Progress(epoch=job.epochs_done, max_epochs=job.max_epochs),
        error=JobError(type=job.error_type, message=job.error_message or "") if job.error_type else None,
        latest_metrics=job.latest_metrics or {},
        warnings=job.warnings,
        control_id=job.control_id,
        control_of=job.control_of,
        result=job.result,
        estimate=job.estimate,
        eta_seconds=_eta_seconds(job),
    )


def _eta_seconds(job: Any) -> float | None:
    """Epochs left times the last epoch's training seconds, or the estimate's per epoch before the first ends."""
    if job.status in FINAL:
        return None
    per_epoch = (job.latest_metrics or {}).get("train_epoch_seconds") or (job.estimate or {}).get("per_epoch_seconds")
    return None if per_epoch is None else round(per_epoch * max(job.max_epochs - job.epochs_done, 0), 1)
