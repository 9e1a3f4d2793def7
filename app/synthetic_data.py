"""Synthetic stand-ins for CIFAR-10 and CIFAR-100 in the real python-pickle layout (numpy and pickle only).

Each class is a pattern and a colour, drawn with random phase, brightness and noise, so a network learns
them within a few epochs. The 100 classes are the 10 colours crossed with the 10 patterns; in the 10-class set
a class is its pattern and, half of the time, its colour (otherwise a random one), so a backbone trained on it
must learn patterns as well as colours, which is what the 100-class set needs: the transfer works. For demos and tests without the internet:
accuracies measured on these files say nothing about real CIFAR.
"""

import colorsys
import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

SIZE = 32
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR100_FOLDER = "cifar-100-python"
CIFAR10_TRAIN_BATCHES = 5
NOTICE_FILE = "SYNTHETIC.txt"

COLOURS = ("red", "orange", "yellow", "lime", "green", "teal", "cyan", "blue", "purple", "magenta")
PATTERNS = ("hstripes", "vstripes", "diagonal", "antidiagonal", "checks", "rings", "blob", "hgradient",
            "vgradient", "grid")
_Y, _X = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) / SIZE


def _pattern(name: str, rng: np.random.Generator, n: int) -> np.ndarray:
    """n images (n x 32 x 32, values in -1..1) of one pattern, each with its own random phase or position."""
    phase = rng.uniform(0, 2 * np.pi, (n, 1, 1)).astype(np.float32)
    wave: dict[str, Callable[[], np.ndarray]] = {
        "hstripes": lambda: np.sin(2 * np.pi * 2 * _Y + phase),
        "vstripes": lambda: np.sin(2 * np.pi * 2 * _X + phase),
        "diagonal": lambda: np.sin(2 * np.pi * 2 * (_X + _Y) + phase),
        "antidiagonal": lambda: np.sin(2 * np.pi * 2 * (_X - _Y) + phase),
        "checks": lambda: np.sign(np.sin(2 * np.pi * 2 * _X + phase) * np.sin(2 * np.pi * 2 * _Y + phase)),
        "rings": lambda: np.sin(2 * np.pi * 3 * np.hypot(_X - 0.5, _Y - 0.5) + phase),
        "hgradient": lambda: np.broadcast_to(2 * _X - 1, (n, SIZE, SIZE)) * np.sign(np.cos(phase)),
        "vgradient": lambda: np.broadcast_to(2 * _Y - 1, (n, SIZE, SIZE)) * np.sign(np.cos(phase)),
        "grid": lambda: np.sin(2 * np.pi * 4 * _X + phase) * np.sin(2 * np.pi * 4 * _Y + phase),
    }
    if name == "blob":
        centre = rng.uniform(0.3, 0.7, (n, 2, 1, 1)).astype(np.float32)
        return 2 * np.exp(-((_X - centre[:, 0]) ** 2 + (_Y - centre[:, 1]) ** 2) / 0.03) - 1
    return wave[name]()


def _colour(index: int) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(index / len(COLOURS), 0.85, 0.9), dtype=np.float32)


def _images(rng: np.random.Generator, n: int, *, colour: int | None, pattern: int) -> np.ndarray:
    """n images of one class as CIFAR rows: uint8 n x 3072, channel-major (all R, then G, then B).

    colour None: the class's own colour (its pattern's index) half of the time, otherwise a random one.
    """
    texture = _pattern(PATTERNS[pattern], rng, n)[:, None]  # n x 1 x 32 x 32
    brightness = rng.uniform(0.75, 1.15, (n, 1, 1, 1)).astype(np.float32)
    if colour is None:
        colours = np.where(rng.random(n) < 0.5, pattern, rng.integers(0, len(COLOURS), n))
    else:
        colours = np.full(n, colour)
    palette = np.stack([_colour(i) for i in range(len(COLOURS))])
    rgb = palette[colours][:, :, None, None] * brightness * (0.6 + 0.35 * texture)
    rgb += rng.normal(0, 0.12, rgb.shape).astype(np.float32)  # enough noise that one pixel never tells the class
    return (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8).reshape(n, 3 * SIZE * SIZE)


def _split(rng: np.random.Generator, classes: list[tuple[int | None, int]], per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of every class (label = position in `classes`), shuffled as the real files are."""
    data = np.concatenate([_images(rng, per_class, colour=c, pattern=p) for c, p in classes])
    labels = np.repeat(np.arange(len(classes)), per_class)
    order = rng.permutation(len(labels))
    return data[order], labels[order]


def _dump(path: Path, content: dict) -> None:
    with path.open("wb") as f:
        pickle.dump(content, f, protocol=2)  # the protocol of the official files


def _batch(data: np.ndarray, labels: np.ndarray, label_keys: dict[str, list[int]], batch_label: str,
           start: int) -> dict:
    return {"batch_label": batch_label, **label_keys, "data": data,
            "filenames": [f"synthetic_{start + i:06d}.png" for i in range(len(labels))]}


def _replace_folder(root: Path, name: str, write: Callable[[Path], None]) -> Path:
    """Write a dataset folder beside its final place, then swap it in: a reader never sees half a dataset."""
    root.mkdir(parents=True, exist_ok=True)
    final, staging = root / name, root / f".{name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    write(staging)
    (staging / NOTICE_FILE).write_text(
        "SYNTHETIC DATA written by flashjobs (app/synthetic_data.py): coloured patterns in the CIFAR file layout.\n"
        "Not the real CIFAR images; accuracies measured on it say nothing about CIFAR.\n")
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)
    return final


def write_cifar10(root: Path, *, train_per_class: int, val_per_class: int, seed: int = 0) -> Path:
    """Write root/cifar-10-batches-py/ (data_batch_1..5, test_batch, batches.meta) with synthetic images."""
    rng = np.random.default_rng(seed)
    classes: list[tuple[int | None, int]] = [(None, i) for i in range(len(PATTERNS))]  # class i: pattern i
    names = [f"synthetic-{PATTERNS[i]}-mostly-{COLOURS[i]}" for i in range(len(PATTERNS))]

    def write(folder: Path) -> None:
        data, labels = _split(rng, classes, train_per_class)
        for i, (chunk, chunk_labels) in enumerate(zip(np.array_split(data, CIFAR10_TRAIN_BATCHES),
                                                      np.array_split(labels, CIFAR10_TRAIN_BATCHES)), start=1):
            _dump(folder / f"data_batch_{i}", _batch(chunk, chunk_labels, {"labels": chunk_labels.tolist()},
                                                     f"synthetic training batch {i} of {CIFAR10_TRAIN_BATCHES}",
                                                     start=(i - 1) * len(chunk)))
        val, val_labels = _split(rng, classes, val_per_class)
        _dump(folder / "test_batch", _batch(val, val_labels, {"labels": val_labels.tolist()},
                                            "synthetic testing batch 1 of 1", start=0))
        _dump(folder / "batches.meta", {"num_cases_per_batch": int(np.ceil(len(labels) / CIFAR10_TRAIN_BATCHES)),
                                        "label_names": names, "num_vis": 3 * SIZE * SIZE})

    return _replace_folder(root, CIFAR10_FOLDER, write)


def write_cifar100(root: Path, *, train_per_class: int, val_per_class: int, seed: int = 0) -> Path:
    """Write root/cifar-100-python/ (train, test, meta) with synthetic images: 10 colours x 10 patterns."""
    rng = np.random.default_rng(seed + 100)  # not the CIFAR-10 draws again
    classes = [(c, p) for p in range(len(PATTERNS)) for c in range(len(COLOURS))]
    names = [f"synthetic-{COLOURS[c]}-{PATTERNS[p]}" for c, p in classes]
    coarse_names = [f"synthetic-group-{g:02d}" for g in range(20)]  # like the real set: 5 fine classes per group

    def labels_of(fine: np.ndarray) -> dict[str, list[int]]:
        return {"fine_labels": fine.tolist(), "coarse_labels": (fine // 5).tolist()}

    def write(folder: Path) -> None:
        data, labels = _split(rng, classes, train_per_class)
        _dump(folder / "train", _batch(data, labels, labels_of(labels), "synthetic training batch 1 of 1", start=0))
        val, val_labels = _split(rng, classes, val_per_class)
        _dump(folder / "test", _batch(val, val_labels, labels_of(val_labels), "synthetic testing batch 1 of 1",
                                      start=0))
        _dump(folder / "meta", {"fine_label_names": names, "coarse_label_names": coarse_names})

    return _replace_folder(root, CIFAR100_FOLDER, write)
