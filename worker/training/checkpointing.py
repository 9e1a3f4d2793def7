"""Where a run keeps its resumable checkpoint, and how it is written (atomically) and read."""

from pathlib import Path
from typing import Any

import torch

from worker.training import compat  # noqa: F401  (before lightning/flash)
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


def read_checkpoint(path: Path, map_location: Any = "cpu") -> dict[str, Any]:
    """A checkpoint written by AtomicCheckpointIO."""
    return torch.load(path, map_location=map_location, weights_only=True)


def recorded_history(path: Path) -> list[dict]:
    """The epochs ([{"epoch", "values"}]) that EpochMetrics recorded in a checkpoint."""
    callbacks = read_checkpoint(path)["callbacks"]
    return callbacks[EpochMetrics.__qualname__]["history"]  # Lightning keys callback state by class name
