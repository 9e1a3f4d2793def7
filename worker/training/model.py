"""The classifier: Flash's ImageClassifier on a ResNet backbone, fresh or from a parent job's backbone."""

from pathlib import Path

import pytorch_lightning as pl
import torch
from flash.core.data.io.input import DataKeys
from flash.core.model import OutputKeys
from flash.image import ImageClassifier
from torch import nn

from app.jobs.schemas import JobSpec, ModelSpec
from worker.training.artifacts import load_backbone
from worker.training.errors import TrainingError


class StepOutputsClassifier(ImageClassifier):
    """An ImageClassifier whose training/validation steps return logits and targets, not only the loss.

    Flash's steps compute the logits but return just the loss (train) or nothing (val), so a callback that
    owns the epoch metrics (metrics.EpochMetrics) would have to run the model twice. Returning
    {"loss", "logits", "targets"} hands them to on_train_batch_end / on_validation_batch_end instead.
    """

    def training_step(self, batch, batch_idx):
        return self._step_outputs(batch, batch_idx)

    def validation_step(self, batch, batch_idx):
        return self._step_outputs(batch, batch_idx)

    def _step_outputs(self, batch, batch_idx) -> dict[str, torch.Tensor]:
        # Flash's own step: forward pass and loss (its metric dict is empty: EpochMetrics owns the metrics).
        output = self.step((batch[DataKeys.INPUT], batch[DataKeys.TARGET]), batch_idx, nn.ModuleDict())
        return {
            "loss": output[OutputKeys.LOSS],
            "logits": output[OutputKeys.OUTPUT].detach(),
            "targets": output[OutputKeys.TARGET],
        }

    # Flash's AdapterTask overrides the *_epoch_end hooks (as no-ops), which makes Lightning 1.9 keep every
    # step output of an epoch in memory for them: the logits of all 50 000 CIFAR images. The base hooks
    # tell Lightning that nobody needs them.
    training_epoch_end = pl.LightningModule.training_epoch_end
    validation_epoch_end = pl.LightningModule.validation_epoch_end

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # The run rebuilds the model from its spec, so the hyper-parameters are not needed to resume; they
        # would pickle the whole parent backbone module (a finetune's `backbone` argument) into every checkpoint.
        checkpoint.pop("hyper_parameters", None)
        checkpoint.pop("hparams_name", None)


def stem_kwargs(cifar_stem: bool) -> dict:
    """Backbone arguments for the stem: a 3x3 first conv and no max-pool keep 32 px images from shrinking 4x."""
    return {"first_conv3x3": True, "remove_first_maxpool": True} if cifar_stem else {}


def build_backbone(model: ModelSpec) -> tuple[nn.Module, int]:
    """A randomly initialised backbone from Flash's registry and its feature width (never downloads weights)."""
    return ImageClassifier.backbones.get(model.backbone)(pretrained=False, **stem_kwargs(model.cifar_stem))


def backbone_from_parent(path: Path, model: ModelSpec) -> tuple[nn.Module, int]:
    """A backbone of the spec's architecture with the parent job's trained weights."""
    state_dict, meta = load_backbone(path)
    wanted = {"architecture": model.backbone, "cifar_stem": model.cifar_stem}
    found = {key: meta.get(key) for key in wanted}
    if found != wanted:
        raise TrainingError("bad_parent", f"parent backbone {path} is {found}, this job needs {wanted}")
    backbone, num_features = build_backbone(model)
    try:
        result = backbone.load_state_dict(state_dict, strict=False)
    except RuntimeError as e:  # tensor shape mismatches
        raise TrainingError("bad_parent", f"parent backbone {path} does not fit {model.backbone}: {e}") from e
    if result.missing_keys or result.unexpected_keys:
        raise TrainingError(
            "bad_parent",
            f"parent backbone {path} does not fit {model.backbone}: "
            f"missing keys {result.missing_keys}, unexpected keys {result.unexpected_keys}",
        )
    return backbone, num_features


def build_classifier(spec: JobSpec, *, num_classes: int, parent_backbone: Path | None) -> StepOutputsClassifier:
    """The classifier a job trains: a fresh backbone (train) or the parent's (finetune), with a new linear head."""
    if spec.kind == "finetune" and spec.init_from is not None and spec.init_from.random:
        backbone = build_backbone(spec.model)  # a control run's random backbone, frozen like the finetune's
    elif spec.kind == "finetune":
        if parent_backbone is None:
            raise TrainingError("bad_parent", "a finetune job needs its parent's backbone artifact")
        backbone = backbone_from_parent(parent_backbone, spec.model)
    else:
        backbone = build_backbone(spec.model)
    trainer = spec.trainer
    return StepOutputsClassifier(
        num_classes=num_classes,
        backbone=backbone,
        head="linear",
        pretrained=False,
        optimizer=_optimizer(trainer.optimizer),
        learning_rate=trainer.learning_rate,
        lr_scheduler=_lr_scheduler(trainer.optimizer, trainer.max_epochs),
        metrics=[],  # EpochMetrics owns the metrics; Flash's default Accuracy would only cost time
    )


def _optimizer(name: str):
    # Momentum 0.9 (and a little weight decay) is the standard SGD setting for ResNets; Adam(W) keep their defaults.
    if name == "sgd":
        return ("sgd", {"momentum": 0.9, "weight_decay": 5e-4})
    return name


def _lr_scheduler(optimizer: str, max_epochs: int):
    """Cosine decay to zero over the run for SGD (a robust default); Adam(W) adapt their steps and get none."""
    if optimizer != "sgd":
        return None
    # A callable, since Flash 0.8.2's scheduler registry finds none of torch's current scheduler classes.
    return CosineSchedule(max_epochs)


class CosineSchedule:
    """Builds torch's CosineAnnealingLR over `max_epochs` epochs for the optimizer Flash creates."""

    def __init__(self, max_epochs: int):
        self.max_epochs = max_epochs

    def __call__(self, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.max_epochs)
