"""Where a run keeps its resumable checkpoint, and how it is written (atomically) and read."""

import copy
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from worker.training.artifacts import write_atomically
from worker.training.metrics import EpochMetrics


def last_checkpoint_path(work_dir: Path) -> Path:
    """The one checkpoint a run keeps: overwritten at every epoch end (and on cancel)."""
    return work_dir / "checkpoints" / "last.ckpt"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's torch.save/torch.load checkpoint IO, made crash-safe and loadable on torch >= 2.6.

    Lightning 1.9 writes checkpoints in place (a crash mid-write leaves a truncated file that a resume then
    trips over); this writes `<path>.tmp` and renames it over `<path>`. Lightning 1.9 also calls torch.load
    without `weights_only`, which torch 2.6+ defaults to True; the checkpoints hold only tensors and plain
    containers (StepOutputsClassifier drops the pickled hyper-parameters), so weights_only=True loads them.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any = None) -> None:
        write_atomically(Path(path), lambda tmp: torch.save(checkpoint, tmp))

    def load_checkpoint(self, path, map_location: Any = "cpu") -> dict[str, Any]:
        return read_checkpoint(Path(path), map_location=map_location)


class MidEpochResumesAtEpochStart(pl.Callback):
    """Makes a checkpoint saved mid-epoch (on cancel) resume at the start of that epoch, from the weights reached.

    Lightning 1.9's own mid-epoch resume repeats the interrupted batch and, at the end of the resumed epoch,
    steps epoch-wise LR schedulers twice (fit_loop.on_advance_end takes it for an epoch-end reload). So a
    mid-epoch checkpoint gets the loop state of the last epoch boundary instead: model, optimizer and LR
    scheduler are saved as they are (the scheduler only steps at epoch ends, so it is at the boundary too),
    and the resumed run trains that epoch anew with the weights the cut one had reached.
    """

    def __init__(self):
        self._boundary_loops: dict | None = None  # loop state at the last epoch end; None: before the first

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        self._boundary_loops = copy.deepcopy(checkpoint.get("loops"))  # every checkpoint we write is at one

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        epochs = checkpoint["loops"]["fit_loop"]["epoch_progress"]["current"]
        if epochs["ready"] == epochs["processed"]:  # saved in on_train_epoch_end: Lightning counted it processed
            self._boundary_loops = copy.deepcopy(checkpoint["loops"])
        elif self._boundary_loops is None:  # cut in the first epoch: no loop state means "start at epoch 0"
            del checkpoint["loops"]
        else:
            checkpoint["loops"] = copy.deepcopy(self._boundary_loops)


def read_checkpoint(path: Path, map_location: Any = "cpu") -> dict[str, Any]:
    """A checkpoint written by AtomicCheckpointIO."""
    return torch.load(path, map_location=map_location, weights_only=True)


def recorded_history(path: Path) -> list[dict]:
    """The epochs ([{"epoch", "values"}]) that EpochMetrics recorded in a checkpoint."""
    callbacks = read_checkpoint(path)["callbacks"]
    return callbacks[EpochMetrics.__qualname__]["history"]  # Lightning keys callback state by class name
