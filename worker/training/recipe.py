"""One training run, start to finish: set up, train (or resume), save artifacts."""

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import flash
import pytorch_lightning as pl
import torch

from app.jobs.schemas import FinetuneSpec, JobSpec
from app.jobs.status import JobStatus
from worker.training.artifacts import save_backbone, save_torchscript_model
from worker.training.checkpointing import (
    AtomicCheckpointIO,
    MidEpochResumesAtEpochStart,
    last_checkpoint_path,
    recorded_history,
)
from worker.training.data import TrainingData, build_data
from worker.training.errors import TrainingError, as_training_errors
from worker.training.finetuning import ResumableFinetuning
from worker.training.metrics import EpochMetrics
from worker.training.model import StepOutputsClassifier, build_classifier
from worker.training.reporter import Reporter

PRECISION = {"32": 32, "16": 16, "bf16": "bf16"}


@dataclass(frozen=True)
class TrainingResult:
    """How the run ended and the files it left in its work_dir ("backbone", "model", "checkpoint")."""

    status: Literal[JobStatus.SUCCEEDED, JobStatus.CANCELLED]
    artifacts: dict[str, Path]


def run(
    *,
    spec: JobSpec,
    job_id: str,
    work_dir: Path,
    data_dir: Path,
    allow_downloads: bool,
    parent_backbone: Path | None,
    reporter: Reporter,
    progress_every_s: float = 2.0,
    artifact_dir: Path | None = None,
) -> TrainingResult:
    """Train (kind "train") or finetune (kind "finetune") the spec's model; resume if work_dir has a checkpoint."""
    work_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = last_checkpoint_path(work_dir)
    resume_from = checkpoint if checkpoint.is_file() else None

    # -- setup -------------------------------------------------------------------------------------------------
    data = build_data(spec, data_dir=data_dir, allow_downloads=allow_downloads, artifact_dir=artifact_dir)
    # Seeded right before the model: its initial weights, the shuffles and the augmentations follow the seed.
    pl.seed_everything(spec.trainer.seed, workers=True)
    model = build_classifier(spec, num_classes=len(data.class_names), parent_backbone=parent_backbone)
    epoch_metrics = EpochMetrics(
        num_classes=len(data.class_names),
        f1_average=spec.metrics.f1_average,
        reporter=reporter,
        save_checkpoint=lambda trainer: trainer.save_checkpoint(checkpoint),
        progress_every_s=progress_every_s,
    )
    callbacks = [epoch_metrics, MidEpochResumesAtEpochStart(), *finetune_callbacks(spec)]
    trainer = make_trainer(spec, work_dir, callbacks=callbacks)

    # -- resume: first re-report every recorded epoch, unchanged, so the job's curve has each epoch once -------
    if resume_from is not None and trainer.is_global_zero:
        for entry in recorded_history(resume_from):
            reporter.epoch_end(entry["epoch"], entry["values"])

    # -- train -----------------------------------------------------------------------------------------------
    # Lightning's own fit, not Flash's: Flash's Trainer.fit and .finetune do not pass ckpt_path on.
    with as_training_errors():
        pl.Trainer.fit(trainer, model, datamodule=data.datamodule, ckpt_path=resume_from)
    if epoch_metrics.cancelled:
        return TrainingResult(JobStatus.CANCELLED, {"checkpoint": checkpoint})

    # -- save ------------------------------------------------------------------------------------------------
    artifacts = {"checkpoint": checkpoint}
    if trainer.is_global_zero:
        artifacts |= save_artifacts(model, data, spec=spec, job_id=job_id, work_dir=work_dir)
    return TrainingResult(JobStatus.SUCCEEDED, artifacts)


def make_trainer(spec: JobSpec, work_dir: Path, callbacks: list[pl.Callback]) -> flash.Trainer:
    """A Flash Trainer for the spec's epochs, devices and precision, with our checkpointing and no logger."""
    devices = spec.trainer.devices
    if torch.cuda.is_available() and devices > torch.cuda.device_count():
        raise TrainingError(
            "too_many_devices",
            f"trainer.devices is {devices} but this worker has "
            f"{torch.cuda.device_count()} GPUs; FLASHJOBS_MAX_DEVICES should "
            "be at most the GPUs a worker has",
        )
    return flash.Trainer(
        max_epochs=spec.trainer.max_epochs,
        accelerator="gpu" if torch.cuda.is_available() else "cpu",
        devices=devices,
        strategy="ddp" if devices > 1 else None,
        precision=PRECISION[spec.trainer.precision],
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
        # EpochMetrics saves the one resumable checkpoint, after the epoch's metrics (which it must hold).
        enable_checkpointing=False,
        # Metrics go to the reporter and from there to the service's database; a logger would duplicate them.
        logger=False,
        # A worker's log is no terminal: progress goes to the reporter instead of a progress bar.
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(work_dir),
    )


def finetune_callbacks(spec: JobSpec) -> list[pl.Callback]:
    """What flash.Trainer.finetune(model, strategy=..., train_bn=...) adds before it fits: Flash's finetuning
    callback (here with fixes for resuming, see finetuning.py). Added by us so that a finetune resumes
    (which needs fit's ckpt_path) exactly as it started."""
    if spec.kind != "finetune":
        return []
    return [ResumableFinetuning(spec.finetune or FinetuneSpec())]


def save_artifacts(
    model: StepOutputsClassifier, data: TrainingData, *, spec: JobSpec, job_id: str, work_dir: Path
) -> dict[str, Path]:
    """backbone.pt (for finetunes of this job) and model.pt (TorchScript, for anyone)."""
    backbone, head = model.adapter.backbone, model.adapter.head
    meta = {
        "architecture": spec.model.backbone,
        "cifar_stem": spec.model.cifar_stem,
        "num_features": head.in_features,
        "source_job": job_id,
        "num_classes": len(data.class_names),
        "class_names": data.class_names,
    }
    return {
        "backbone": save_backbone(work_dir / "backbone.pt", backbone, meta),
        "model": save_torchscript_model(
            work_dir / "model.pt", backbone, head, class_names=data.class_names, preprocess=data.preprocess.as_dict()
        ),
    }
