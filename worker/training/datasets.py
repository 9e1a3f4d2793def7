"""Reading image datasets (CIFAR pickles, class folders) into labelled splits; no Flash here."""

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torchvision

from worker.training.errors import TrainingError

# The file extensions Flash's image loader reads.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
# Share of a class held out for validation when a folder dataset has no val_folder.
HOLDOUT_FRACTION = 0.1


@dataclass(frozen=True)
class Split:
    """Images (uint8 N x 3 x H x W array, or a list of image file paths) and their integer labels."""

    images: np.ndarray | list[Path]
    labels: np.ndarray

    def subset(self, indices: np.ndarray) -> "Split":
        """The split restricted to `indices` (kept in the given order)."""
        if isinstance(self.images, np.ndarray):
            return Split(self.images[indices], self.labels[indices])
        return Split([self.images[i] for i in indices], self.labels[indices])

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class LabelledDataset:
    """A train and a validation split with the names of their classes."""

    train: Split
    val: Split
    class_names: list[str]
    native_image_size: int | None  # None when images come in any size (folders)


@dataclass(frozen=True)
class CifarLayout:
    """Where one CIFAR variant's python-version files live and what their keys are called."""

    archive: type[torchvision.datasets.CIFAR10]  # torchvision's class: the official URL, file name and md5
    train_files: tuple[str, ...]
    val_files: tuple[str, ...]
    meta_file: str
    names_key: str
    labels_key: str
    num_classes: int


CIFAR_LAYOUTS = {
    "cifar10": CifarLayout(
        archive=torchvision.datasets.CIFAR10,
        train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
        val_files=("test_batch",),
        meta_file="batches.meta",
        names_key="label_names",
        labels_key="labels",
        num_classes=10,
    ),
    "cifar100": CifarLayout(
        archive=torchvision.datasets.CIFAR100,
        train_files=("train",),
        val_files=("test",),
        meta_file="meta",
        names_key="fine_label_names",
        labels_key="fine_labels",
        num_classes=100,
    ),
}


def cifar_folder(data_dir: Path, name: str) -> Path:
    """The folder that holds an extracted CIFAR variant."""
    return data_dir / CIFAR_LAYOUTS[name].archive.base_folder


def read_cifar(folder: Path, name: str) -> LabelledDataset:
    """Read a CIFAR variant from its python-version files; the official test batch is the validation split."""
    layout = CIFAR_LAYOUTS[name]
    meta = _read_pickle(folder / layout.meta_file)
    class_names = [str(n) for n in meta.get(layout.names_key, [])]
    if len(class_names) != layout.num_classes:
        raise TrainingError(
            "bad_dataset", f"{folder / layout.meta_file}: expected {layout.num_classes} {layout.names_key}"
        )
    train = _read_cifar_batches([folder / f for f in layout.train_files], layout)
    val = _read_cifar_batches([folder / f for f in layout.val_files], layout)
    return LabelledDataset(train=train, val=val, class_names=class_names, native_image_size=32)


def _read_cifar_batches(paths: list[Path], layout: CifarLayout) -> Split:
    images, labels = [], []
    for path in paths:
        batch = _read_pickle(path)
        data = np.asarray(batch.get("data"))
        batch_labels = np.asarray(batch.get(layout.labels_key, []), dtype=np.int64)
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise TrainingError("bad_dataset", f"{path}: 'data' must be uint8 N x 3072, got {data.dtype} {data.shape}")
        if len(batch_labels) != len(data):
            raise TrainingError("bad_dataset", f"{path}: {len(data)} images but {len(batch_labels)} labels")
        if len(batch_labels) and not 0 <= batch_labels.min() <= batch_labels.max() < layout.num_classes:
            raise TrainingError("bad_dataset", f"{path}: labels outside 0..{layout.num_classes - 1}")
        images.append(data.reshape(-1, 3, 32, 32))  # rows are channel-major (all R, then G, then B)
        labels.append(batch_labels)
    return Split(np.concatenate(images), np.concatenate(labels))


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only, so a stray file in the data directory cannot run code."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),  # how python-2 pickles (the official CIFAR files) store byte strings
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _read_pickle(path: Path) -> dict:
    if not path.is_file():
        raise TrainingError("bad_dataset", f"{path} is missing")
    try:
        with path.open("rb") as f:
            # latin1 reads the official python-2 pickles; python-3 pickles are unaffected.
            content = _NumpyOnlyUnpickler(f, encoding="latin1").load()
    except Exception as e:  # any unreadable file is the dataset's fault, whatever pickle raises
        raise TrainingError("bad_dataset", f"{path} is not a CIFAR python pickle: {e}") from e
    if not isinstance(content, dict):
        raise TrainingError("bad_dataset", f"{path} does not hold a dict")
    return content


def read_image_folders(train_folder: Path, val_folder: Path | None, seed: int) -> LabelledDataset:
    """Read class-subfolder datasets; without a val folder, hold out a class-balanced 10% of train."""
    class_names = sorted(p.name for p in train_folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_names:
        raise TrainingError("bad_dataset", f"{train_folder} has no class subfolders")
    train = _list_images(train_folder, class_names, require_every_class=True)
    if val_folder is None:
        val_indices = holdout_indices(train.labels, HOLDOUT_FRACTION, seed)
        keep = np.setdiff1d(np.arange(len(train)), val_indices)
        train, val = train.subset(keep), train.subset(val_indices)
    else:
        unknown = sorted(
            p.name for p in val_folder.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in class_names
        )
        if unknown:
            raise TrainingError("bad_dataset", f"{val_folder} has classes not in {train_folder}: {unknown}")
        val = _list_images(val_folder, class_names, require_every_class=False)
    if len(val) == 0:
        raise TrainingError("bad_dataset", f"no validation images ({val_folder or 'held out from ' + str(train_folder)})")
    return LabelledDataset(train=train, val=val, class_names=class_names, native_image_size=None)


def _list_images(folder: Path, class_names: list[str], require_every_class: bool) -> Split:
    files: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(class_names):
        class_dir = folder / name
        class_files = sorted(
            p for p in class_dir.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
        ) if class_dir.is_dir() else []
        if require_every_class and not class_files:
            raise TrainingError("bad_dataset", f"class folder {class_dir} has no images ({', '.join(IMAGE_EXTENSIONS)})")
        files += class_files
        labels += [label] * len(class_files)
    return Split(files, np.asarray(labels, dtype=np.int64))


def _shuffled_rank_within_class(labels: np.ndarray, seed: int) -> np.ndarray:
    """For each sample, its position in a seeded shuffle of its own class."""
    order = np.random.default_rng(seed).permutation(len(labels))
    order = order[np.argsort(labels[order], kind="stable")]  # grouped by class, shuffled within
    ranks = np.empty(len(labels), dtype=np.int64)
    starts = np.searchsorted(labels[order], labels[order])  # where each sample's class starts in `order`
    ranks[order] = np.arange(len(labels)) - starts
    return ranks


def balanced_subset(labels: np.ndarray, limit: int | None, seed: int) -> np.ndarray:
    """Indices of a deterministic subset of at most `limit` samples, as class-balanced as the classes allow."""
    if limit is None or limit >= len(labels):
        return np.arange(len(labels))
    ranks = _shuffled_rank_within_class(labels, seed)
    # Round-robin over classes: every class's first sample, then every class's second, ...
    round_robin = np.lexsort((labels, ranks))
    return np.sort(round_robin[:limit])


def holdout_indices(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Indices of a seeded, class-balanced `fraction` of each class (none from a class with a single sample)."""
    ranks = _shuffled_rank_within_class(labels, seed)
    counts = np.bincount(labels)
    per_class = np.where(counts >= 2, np.maximum(1, np.round(counts * fraction)), 0).astype(np.int64)
    return np.flatnonzero(ranks < per_class[labels])
