"""Datasets uploaded to the service (app/datasets/), read from their manifest in the shared artifact store."""

import json
from pathlib import Path

import numpy as np

from app.datasets.ingest import FILES
from app.datasets.storage import MANIFEST, dataset_dir
from worker.training.datasets import LabelledDataset, Split, holdout_indices
from worker.training.errors import TrainingError
from worker.training.image_folders import HOLDOUT_FRACTION


def read_uploaded(artifact_dir: Path, dataset_id: str, seed: int) -> LabelledDataset:
    """The images validation kept, labelled as the manifest says; without a val split, a seeded holdout."""
    folder = dataset_dir(artifact_dir, dataset_id)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        raise TrainingError(
            "dataset_missing",
            f"dataset {dataset_id} has no files in the artifact store "
            f"({folder}); was it deleted, or is FLASHJOBS_ARTIFACT_DIR another store?",
        ) from None

    def split(entries: list[list]) -> Split:
        return Split(
            [folder / FILES / path for path, _ in entries], np.asarray([label for _, label in entries], dtype=np.int64)
        )

    train = split(manifest["train"])
    if manifest["val"] is None:
        val_indices = holdout_indices(train.labels, HOLDOUT_FRACTION, seed)
        train, val = train.subset(np.setdiff1d(np.arange(len(train)), val_indices)), train.subset(val_indices)
    else:
        val = split(manifest["val"])
    return LabelledDataset(
        train=train,
        val=val,
        class_names=manifest["classes"],
        native_image_size=None,
        default_image_size=manifest["image_size"],
    )
