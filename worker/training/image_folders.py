"""Image datasets laid out as one subfolder of images per class (torchvision's ImageFolder layout)."""

from pathlib import Path

import numpy as np

from worker.training.datasets import LabelledDataset, Split, holdout_indices
from worker.training.errors import TrainingError

# The file extensions Flash's image loader reads.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
# Share of each class held out for validation when there is no val folder.
HOLDOUT_FRACTION = 0.1


def read_image_folders(train_folder: Path, val_folder: Path | None, seed: int) -> LabelledDataset:
    """Read class-subfolder datasets; without a val folder, hold out a seeded, class-balanced 10% of train."""
    class_names = _class_dirs(train_folder)
    if not class_names:
        raise TrainingError("bad_dataset", f"{train_folder} has no class subfolders")
    train = _list_images(train_folder, class_names, require_every_class=True)
    if val_folder is None:
        val_indices = holdout_indices(train.labels, HOLDOUT_FRACTION, seed)
        train, val = train.subset(np.setdiff1d(np.arange(len(train)), val_indices)), train.subset(val_indices)
    else:
        unknown = sorted(set(_class_dirs(val_folder)) - set(class_names))
        if unknown:
            raise TrainingError("bad_dataset", f"{val_folder} has classes that {train_folder} lacks: {unknown}")
        val = _list_images(val_folder, class_names, require_every_class=False)
    if len(val) == 0:
        source = val_folder or f"the 10% held out of {train_folder}"
        raise TrainingError("bad_dataset", f"no validation images in {source}")
    return LabelledDataset(train=train, val=val, class_names=class_names, native_image_size=None)


def _class_dirs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _list_images(folder: Path, class_names: list[str], require_every_class: bool) -> Split:
    files: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(class_names):
        class_dir = folder / name
        found = sorted(p for p in class_dir.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
        if require_every_class and not found:
            extensions = ", ".join(IMAGE_EXTENSIONS)
            raise TrainingError("bad_dataset", f"class folder {class_dir} has no images ({extensions})")
        files += found
        labels += [label] * len(found)
    return Split(files, np.asarray(labels, dtype=np.int64))
