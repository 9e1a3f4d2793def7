"""Per-epoch metrics, progress and cancellation of a run, as a Lightning callback."""

import math
import time
from collections.abc import Callable

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics import Metric
from torchmetrics.classification import MulticlassAccuracy, MulticlassAUROC, MulticlassF1Score

from worker.training.reporter import Reporter

CANCEL_CHECK_STRIDE = 8  # batches between cancel checks in multi-GPU runs (single-device runs check every batch)


class WeightedMean(Metric):
    """The mean of batch values weighted by batch size, summed across DDP ranks.

    torchmetrics' MeanMetric checks every update for NaN with `if nans.any()`, which waits for the GPU at every
    batch; this one only adds on the device.
    """

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("weight", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, value: torch.Tensor, weight: int) -> None:
        self.total += value.detach().double() * weight
        self.weight += weight

    def compute(self) -> torch.Tensor:
        return self.total / self.weight


class SplitMetrics(nn.Module):
    """Accuracy, F1, one-vs-rest AUROC and mean loss of one split, accumulated over an epoch's batches."""

    def __init__(self, num_classes: int, f1_average: str):
        super().__init__()
        # validate_args=False: the checks (torch.unique of every batch's targets) wait for the GPU at every batch;
        # our inputs are a softmax and targets the loader numbered from the dataset's own classes.
        self.scores = nn.ModuleDict(
            {
                # micro accuracy: the share of images classified correctly.
                "accuracy": MulticlassAccuracy(num_classes, average="micro", validate_args=False),
                "f1": MulticlassF1Score(num_classes, average=f1_average, validate_args=False),
                # Exact (unbinned) one-vs-rest AUROC: keeps the epoch's probabilities (N x classes floats,
                # 20 MB for CIFAR-100's training set); binned thresholds would only approximate it.
                "auroc": MulticlassAUROC(num_classes, average="macro", validate_args=False),
            }
        )
        self.loss = WeightedMean()

    def update(self, logits: torch.Tensor, targets: torch.Tensor, loss: torch.Tensor) -> None:
        probabilities = logits.float().softmax(dim=-1)
        for score in self.scores.values():
            score.update(probabilities, targets)
        self.loss.update(loss, weight=len(targets))  # batch mean, weighted by its size

    def compute(self) -> dict[str, float]:
        """The epoch's values (synced across DDP ranks by torchmetrics); undefined ones (NaN) are left out."""
        values = {name: float(score.compute()) for name, score in self.scores.items()}
        values["loss"] = float(self.loss.compute())
        return {name: value for name, value in values.items() if math.isfinite(value)}

    def reset(self) -> None:
        for score in self.scores.values():
            score.reset()
        self.loss.reset()


class EpochMetrics(pl.Callback):
    """Owns the train/val metrics; at each epoch end records and checkpoints them, then reports them.

    Also reports within-epoch progress (at most every `progress_every_s` seconds) and turns a cancel request
    into a stop after the current batch, saving a checkpoint first. The history of all recorded epochs is
    part of the checkpoint (state_dict), so a resumed run can re-report it unchanged.
    """

    def __init__(
        self,
        *,
        num_classes: int,
        f1_average: str,
        reporter: Reporter,
        save_checkpoint: Callable[[pl.Trainer], None],
        progress_every_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.splits = {split: SplitMetrics(num_classes, f1_average) for split in ("train", "val")}
        self.reporter = reporter
        self.save_checkpoint = save_checkpoint
        self.progress_every_s = progress_every_s
        self.clock = clock
        self.history: list[dict] = []  # [{"epoch": int, "values": {...}}], one entry per finished epoch
        self.cancelled = False
        self._validation_seconds = 0.0  # of the latest epoch, for the ETA

    # -- state in the checkpoint ------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict) -> None:
        self.history = list(state_dict["history"])

    # -- training -----------------------------------------------------------------------------------------
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for metrics in self.splits.values():
            metrics.to(pl_module.device)  # the strategy has placed the model by now

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for metrics in self.splits.values():
            metrics.reset()
        self._lr = trainer.optimizers[0].param_groups[0]["lr"]  # the rate this epoch trains with
        self._epoch_start = self._last_batch_end = self.clock()
        self._last_progress = float("-inf")  # report the epoch's first batch at once: the job visibly started
        self._images = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.splits["train"].update(outputs["logits"], outputs["targets"], outputs["loss"])
        self._images += len(outputs["targets"]) * trainer.world_size  # every rank trains an equal share
        self._last_batch_end = self.clock()
        if trainer.is_global_zero and self._last_batch_end - self._last_progress >= self.progress_every_s:
            self._report_progress(trainer, batch_idx + 1)
            self._last_progress = self._last_batch_end
        # Any rank's cancel request stops all ranks (they must leave the loop together). Across ranks that is a
        # collective whose answer the CPU must wait for: every CANCEL_CHECK_STRIDE batches, at the same batch on all.
        if trainer.world_size == 1 or batch_idx % CANCEL_CHECK_STRIDE == 0:
            if trainer.strategy.reduce_boolean_decision(self.reporter.should_stop(), all=False):
                self._cancel(trainer)

    def _report_progress(self, trainer: pl.Trainer, batches_done: int) -> None:
        elapsed = self._last_batch_end - self._epoch_start
        seconds_per_batch = elapsed / batches_done
        epochs_after_this = trainer.max_epochs - trainer.current_epoch - 1
        batches_left = trainer.num_training_batches - batches_done + epochs_after_this * trainer.num_training_batches
        self.reporter.progress(
            epoch=trainer.current_epoch,
            batch=batches_done,
            num_batches=trainer.num_training_batches,
            images_per_second=self._images / elapsed if elapsed > 0 else 0.0,
            eta_seconds=batches_left * seconds_per_batch + (epochs_after_this + 1) * self._validation_seconds,
        )

    def _cancel(self, trainer: pl.Trainer) -> None:
        self.cancelled = True
        trainer.should_stop = True
        # Lightning would otherwise validate the partial epoch before stopping: minutes on CIFAR, for nothing.
        trainer.limit_val_batches = 0
        # Saved mid-epoch, with the history of the finished epochs only; a resume trains this epoch anew
        # from the weights reached (checkpointing.MidEpochResumesAtEpochStart).
        self.save_checkpoint(trainer)

    # -- validation ---------------------------------------------------------------------------------------
    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self._validation_start = self.clock()

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if not trainer.sanity_checking:  # the sanity check's two batches are no epoch's data
            self.splits["val"].update(outputs["logits"], outputs["targets"], outputs["loss"])

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self._validation_seconds = self.clock() - self._validation_start

    # -- epoch end: after validation, before Lightning counts the epoch as completed ---------------------------
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.cancelled:
            return  # a partial epoch is not recorded (and was checkpointed when the cancel came)
        epoch = trainer.current_epoch
        values = {f"{split}_{name}": value for split, m in self.splits.items() for name, value in m.compute().items()}
        train_seconds = self._last_batch_end - self._epoch_start
        values["train_lr"] = float(self._lr)
        values["train_epoch_seconds"] = train_seconds
        values["train_images_per_second"] = self._images / train_seconds if train_seconds > 0 else 0.0
        self.history.append({"epoch": epoch, "values": values})
        # Checkpoint first, then report: every reported epoch is in a checkpoint, so a crash in between
        # makes the resumed run re-report this epoch with the same values instead of training it again.
        self.save_checkpoint(trainer)
        if trainer.is_global_zero:
            self.reporter.epoch_end(epoch, values)
