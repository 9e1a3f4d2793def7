"""Writes small datasets in the real CIFAR python-pickle and image-folder formats, for tests."""

import pickle
from pathlib import Path

import numpy as np

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR100_CLASSES = [f"fine_{i:02d}" for i in range(100)]
CIFAR100_COARSE_CLASSES = [f"coarse_{i:02d}" for i in range(20)]


def class_colour(label: int, num_classes: int) -> np.ndarray:
    """A distinct RGB colour per class: points of an evenly spaced grid in the RGB cube."""
    levels_per_channel = int(np.ceil(num_classes ** (1 / 3)))
    levels = np.linspace(30, 225, levels_per_channel)
    k = levels_per_channel
    return np.array([levels[label % k], levels[(label // k) % k], levels[(label // k // k) % k]])


def synthetic_images(
    labels: np.ndarray, num_classes: int, size: int, rng: np.random.Generator, learnable: bool
) -> np.ndarray:
    """uint8 N x 3 x size x size images: each class its own colour plus noise, or (not learnable) pure noise."""
    if not learnable:
        return rng.integers(0, 256, (len(labels), 3, size, size), dtype=np.uint8)
    colours = np.stack([class_colour(int(c), num_classes) for c in labels])  # N x 3
    images = colours[:, :, None, None] + rng.normal(0, 12, (len(labels), 3, size, size))
    return np.clip(images, 0, 255).astype(np.uint8)


def _labels(num_classes: int, per_class: int, rng: np.random.Generator) -> np.ndarray:
    return rng.permutation(np.repeat(np.arange(num_classes), per_class))


def _dump(path: Path, content: dict) -> None:
    with path.open("wb") as f:
        pickle.dump(content, f, protocol=2)  # the official files are python-2 pickles (protocol 2)


def write_cifar10(
    root: Path, *, train_per_class: int, val_per_class: int, seed: int = 0, learnable: bool = True
) -> Path:
    """Write root/cifar-10-batches-py/ (data_batch_1..5, test_batch, batches.meta); returns that folder."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    train_labels = _labels(10, train_per_class, rng)
    train_images = synthetic_images(train_labels, 10, 32, rng, learnable).reshape(len(train_labels), -1)
    for i, part in enumerate(np.array_split(np.arange(len(train_labels)), 5), start=1):
        batch = _cifar10_batch(f"training batch {i} of 5", train_images[part], train_labels[part])
        _dump(folder / f"data_batch_{i}", batch)
    val_labels = _labels(10, val_per_class, rng)
    val_images = synthetic_images(val_labels, 10, 32, rng, learnable).reshape(len(val_labels), -1)
    _dump(folder / "test_batch", _cifar10_batch("testing batch 1 of 1", val_images, val_labels))
    _dump(folder / "batches.meta", {"label_names": CIFAR10_CLASSES, "num_cases_per_batch": 10000, "num_vis": 3072})
    return folder


def _cifar10_batch(batch_label: str, data: np.ndarray, labels: np.ndarray) -> dict:
    return {
        "batch_label": batch_label,
        "labels": labels.tolist(),
        "data": data,
        "filenames": [f"image_{i:05d}.png" for i in range(len(labels))],
    }


def write_cifar100(
    root: Path, *, train_per_class: int, val_per_class: int, seed: int = 0, learnable: bool = True
) -> Path:
    """Write root/cifar-100-python/ (train, test, meta); returns that folder."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    for name, per_class in (("train", train_per_class), ("test", val_per_class)):
        labels = _labels(100, per_class, rng)
        data = synthetic_images(labels, 100, 32, rng, learnable).reshape(len(labels), -1)
        _dump(
            folder / name,
            {
                "filenames": [f"image_{i:05d}.png" for i in range(len(labels))],
                "batch_label": f"{name}ing batch 1 of 1",
                "fine_labels": labels.tolist(),
                "coarse_labels": (labels // 5).tolist(),
                "data": data,
            },
        )
    _dump(folder / "meta", {"fine_label_names": CIFAR100_CLASSES, "coarse_label_names": CIFAR100_COARSE_CLASSES})
    return folder


def write_image_folder(root: Path, classes: list[str], per_class: int, size: int, seed: int = 0) -> Path:
    """Write root/<class>/<class>_<i>.png, each class its own colour plus noise; returns root."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    root = Path(root)
    for label, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        images = synthetic_images(np.full(per_class, label), len(classes), size, rng, learnable=True)
        for i, image in enumerate(images):
            Image.fromarray(image.transpose(1, 2, 0)).save(root / name / f"{name}_{i}.png")
    return root
