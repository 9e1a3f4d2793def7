"""Image datasets laid out as one subfolder of images per class (torchvision's ImageFolder layout).

Every class folder and image is resolved and must lie inside the data directory: a symlink that leads out of it
(a class folder linked elsewhere, a file linked to /etc/passwd) fails the job, and is never listed or opened.
Errors name paths relative to the data directory, as the spec does.
"""

from pathlib import Path

import numpy as np
from PIL import Image

from app.datasets.images import IMAGE_EXTENSIONS, ImageInfo, default_image_size
from worker.training.datasets import LabelledDataset, Split, holdout_indices
from worker.training.errors import TrainingError

# Share of each class held out for validation when there is no val folder.
HOLDOUT_FRACTION = 0.1
# Image headers read for the default image size: a median of this many is close enough, and quick to read.
SIZE_SAMPLE = 1000


def read_image_folders(root: Path, train_folder: Path, val_folder: Path | None, seed: int) -> LabelledDataset:
    """Read class-subfolder datasets under `root` (the resolved data directory); without a val folder, hold out
    a seeded, class-balanced 10% of train."""
    class_names = _class_dirs(root, train_folder)
    if not class_names:
        raise TrainingError("bad_dataset", f"{_shown(root, train_folder)} has no class subfolders")
    train = _list_images(root, train_folder, class_names, require_every_class=True)
    if val_folder is None:
        val_indices = holdout_indices(train.labels, HOLDOUT_FRACTION, seed)
        train, val = train.subset(np.setdiff1d(np.arange(len(train)), val_indices)), train.subset(val_indices)
    else:
        unknown = sorted(set(_class_dirs(root, val_folder)) - set(class_names))
        if unknown:
            raise TrainingError(
                "bad_dataset",
                f"{_shown(root, val_folder)} has classes that {_shown(root, train_folder)} lacks: {unknown}",
            )
        val = _list_images(root, val_folder, class_names, require_every_class=False)
    if len(val) == 0:
        source = _shown(root, val_folder) if val_folder else f"the 10% held out of {_shown(root, train_folder)}"
        raise TrainingError("bad_dataset", f"no validation images in {source}")
    return LabelledDataset(
        train=train,
        val=val,
        class_names=class_names,
        native_image_size=None,
        default_image_size=median_image_size(train.images),
    )


def median_image_size(files: list[Path]) -> int:
    """The default training size of these images (app/datasets/images.py), from the headers of a spread sample."""
    step = max(1, len(files) // SIZE_SAMPLE)
    infos = []
    for path in files[::step]:
        try:
            with Image.open(path) as image:  # reads the header only
                infos.append(ImageInfo(format=image.format or "", width=image.width, height=image.height))
        except OSError:
            continue  # training reports unreadable images when it reaches them
    return default_image_size(infos)


def _shown(root: Path, path: Path) -> str:
    """`path` as the user names it: relative to the data directory."""
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name


def _confined(root: Path, path: Path) -> Path:
    """`path` resolved (symlinks followed); a TrainingError if that leads outside the data directory."""
    resolved = path.resolve()
    if not resolved.is_relative_to(root):
        raise TrainingError(
            "bad_dataset",
            f"{_shown(root, path)} is a link that leads outside the data directory; "
            "datasets must lie inside FLASHJOBS_DATA_DIR",
        )
    return resolved


def _class_dirs(root: Path, folder: Path) -> list[str]:
    names = []
    for entry in sorted(folder.iterdir()):
        if not entry.name.startswith(".") and entry.is_dir():
            _confined(root, entry)
            names.append(entry.name)
    return names


def _list_images(root: Path, folder: Path, class_names: list[str], require_every_class: bool) -> Split:
    files: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(class_names):
        class_dir = _confined(root, folder / name)
        # What is opened is the resolved path, checked to lie inside the data directory.
        found = sorted(
            p
            for p in (_confined(root, p) for p in class_dir.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
            if p.is_file()
        )
        if require_every_class and not found:
            extensions = ", ".join(IMAGE_EXTENSIONS)
            shown = _shown(root, folder / name)
            raise TrainingError("bad_dataset", f"class folder {shown} has no images ({extensions})")
        files += found
        labels += [label] * len(found)
    return Split(files, np.asarray(labels, dtype=np.int64))
