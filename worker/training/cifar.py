"""CIFAR-10/100 in the official python-pickle layout: where the files are and how to read them safely."""

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torchvision

from worker.training.datasets import LabelledDataset, Split
from worker.training.errors import TrainingError


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
