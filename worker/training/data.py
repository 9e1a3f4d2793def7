"""The data a run trains on: the dataset its spec names, limited, transformed, as a Flash DataModule."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from flash.core.data.utilities.classification import SingleNumericTargetFormatter
from flash.image import ImageClassificationData

from app.jobs.schemas import DatasetSpec, JobSpec
from worker.training.cifar import read_cifar
from worker.training.datasets import LabelledDataset, balanced_subset
from worker.training.download import ensure_cifar
from worker.training.errors import TrainingError
from worker.training.image_folders import read_image_folders
from worker.training.preprocess import CIFAR_MEAN, CIFAR_STD, IMAGENET_MEAN, IMAGENET_STD, Preprocess
from worker.training.transforms import ClassificationTransform
from worker.training.uploaded import read_uploaded


@dataclass(frozen=True)
class TrainingData:
    """A Flash DataModule plus what the model and its artifacts need to know about the data."""

    datamodule: ImageClassificationData
    class_names: list[str]
    preprocess: Preprocess
    num_train: int
    num_val: int


def load_dataset(
    dataset: DatasetSpec, *, data_dir: Path, allow_downloads: bool, seed: int, artifact_dir: Path | None = None
) -> LabelledDataset:
    """The spec's dataset (from data_dir, downloaded if allowed, or uploaded) with its train/val limits applied."""
    if dataset.id is not None:
        if artifact_dir is None:
            raise TrainingError("dataset_missing", f"dataset {dataset.id} is uploaded, and no artifact store is set")
        full = read_uploaded(artifact_dir, dataset.id, seed=seed)
    elif dataset.name == "folder":
        full = read_image_folders(
            data_dir.resolve(),
            _inside(data_dir, dataset.train_folder, "train_folder"),
            _inside(data_dir, dataset.val_folder, "val_folder") if dataset.val_folder else None,
            seed=seed,
        )
    else:
        full = read_cifar(ensure_cifar(data_dir, dataset.name, allow_downloads=allow_downloads), dataset.name)
    train = full.train.subset(balanced_subset(full.train.labels, dataset.train_limit, seed))
    val = full.val.subset(balanced_subset(full.val.labels, dataset.val_limit, seed))
    counts = np.bincount(train.labels, minlength=len(full.class_names))
    empty = [full.class_names[c] for c in np.flatnonzero(counts == 0)]
    if empty:
        raise TrainingError("bad_dataset", f"no training images for classes {empty[:10]} (train_limit too small?)")
    if len(val) == 0:
        raise TrainingError("bad_dataset", "the validation split is empty")
    return LabelledDataset(
        train=train,
        val=val,
        class_names=full.class_names,
        native_image_size=full.native_image_size,
        default_image_size=full.default_image_size,
    )


def _inside(data_dir: Path, relative: str | None, setting: str) -> Path:
    """`data_dir / relative`, refusing anything that resolves outside data_dir (symlinks included)."""
    if not relative:
        raise TrainingError("bad_dataset", f"dataset.{setting} is required for a folder dataset")
    root = data_dir.resolve()
    folder = (root / relative).resolve()
    if not folder.is_relative_to(root):
        raise TrainingError("bad_dataset", f"dataset.{setting} {relative!r} leads outside the data directory")
    if not folder.is_dir():
        raise TrainingError(
            "dataset_missing",
            f"{relative} not found: dataset.{setting} is a folder relative to the data directory (FLASHJOBS_DATA_DIR)",
        )
    return folder


def build_data(
    spec: JobSpec, *, data_dir: Path, allow_downloads: bool, artifact_dir: Path | None = None
) -> TrainingData:
    """Load the spec's dataset and wrap it in an ImageClassificationData with our transforms."""
    dataset = load_dataset(
        spec.dataset,
        data_dir=data_dir,
        allow_downloads=allow_downloads,
        seed=spec.trainer.seed,
        artifact_dir=artifact_dir,
    )
    preprocess = default_preprocess(spec.dataset, dataset)
    transform = ClassificationTransform(
        image_size=preprocess.image_size,
        mean=preprocess.mean,
        std=preprocess.std,
        resize=dataset.native_image_size != preprocess.image_size,
    )
    loader_args = dict(
        # Fixed labels: a limited subset that misses a class must not shrink the model's output layer.
        target_formatter=SingleNumericTargetFormatter(labels=dataset.class_names),
        transform=transform,
        batch_size=spec.trainer.batch_size,
        num_workers=spec.trainer.num_workers,
        pin_memory=torch.cuda.is_available(),  # Flash defaults to True, which only warns on CPU
        persistent_workers=spec.trainer.num_workers > 0,  # don't re-fork loader workers every epoch
    )
    train, val = dataset.train, dataset.val
    if isinstance(train.images, list):  # image files
        datamodule = ImageClassificationData.from_files(
            train_files=[str(p) for p in train.images],
            train_targets=train.labels.tolist(),
            val_files=[str(p) for p in val.images],
            val_targets=val.labels.tolist(),
            **loader_args,
        )
    else:  # uint8 N x 3 x H x W arrays
        datamodule = ImageClassificationData.from_numpy(
            train_data=list(train.images),
            train_targets=train.labels.tolist(),
            val_data=list(val.images),
            val_targets=val.labels.tolist(),
            **loader_args,
        )
    return TrainingData(datamodule, dataset.class_names, preprocess, num_train=len(train), num_val=len(val))


def default_preprocess(spec: DatasetSpec, dataset: LabelledDataset) -> Preprocess:
    """Image size and normalisation: CIFAR's 32 px and statistics, or the images' median side and ImageNet's."""
    if dataset.default_image_size is not None:
        return Preprocess(spec.image_size or dataset.default_image_size, IMAGENET_MEAN, IMAGENET_STD)
    return Preprocess(spec.image_size or dataset.native_image_size or 32, CIFAR_MEAN, CIFAR_STD)
