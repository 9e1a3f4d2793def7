"""Synthetic stand-ins for CIFAR-10 and CIFAR-100 in the real python-pickle layout (numpy and pickle only).

Each class is a pattern and a colour, drawn with random phase, brightness and noise, so a network learns
them within a few epochs. The 100 classes are the 10 colours crossed with the 10 patterns; in the 10-class set
a class is its pattern and, half of the time (`colour_matches`), its colour (otherwise a random one), so a
backbone trained on it must learn patterns as well as colours, which is what the 100-class set needs: the
transfer works. Image folders (any size, any class names) follow the same rules, with each class's colour always.
Training flips images left to right, so no pattern is another one mirrored (a mirrored diagonal
would be an anti-diagonal, and the two classes could not be told apart).
For demos and tests without the internet: accuracies measured on these files say nothing about real CIFAR.
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
PATTERNS = (
    "hstripes",
    "vstripes",
    "diagonal",
    "diamonds",
    "checks",
    "rings",
    "blob",
    "hgradient",
    "vgradient",
    "grid",
)
CIFAR10_CLASSES = [f"synthetic-{PATTERNS[i]}-mostly-{COLOURS[i]}" for i in range(len(PATTERNS))]
CIFAR100_CLASSES = [f"synthetic-{COLOURS[c]}-{PATTERNS[p]}" for p in range(len(PATTERNS)) for c in range(len(COLOURS))]
CIFAR100_COARSE_CLASSES = [f"synthetic-group-{g:02d}" for g in range(20)]  # like the real set: 5 fine classes each


def _pattern(name: str, rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """n images (n x size x size, values in -1..1) of one pattern, each with its own random phase or position."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    phase = rng.uniform(0, 2 * np.pi, (n, 1, 1)).astype(np.float32)
    wave: dict[str, Callable[[], np.ndarray]] = {
        "hstripes": lambda: np.sin(2 * np.pi * 2 * y + phase),
        "vstripes": lambda: np.sin(2 * np.pi * 2 * x + phase),
        "diagonal": lambda: np.sin(2 * np.pi * 2 * (x + y) + phase),
        "diamonds": lambda: np.sin(2 * np.pi * 3 * (np.abs(x - 0.5) + np.abs(y - 0.5)) + phase),
        "checks": lambda: np.sign(np.sin(2 * np.pi * 2 * x + phase) * np.sin(2 * np.pi * 2 * y + phase)),
        "rings": lambda: np.sin(2 * np.pi * 3 * np.hypot(x - 0.5, y - 0.5) + phase),
        "hgradient": lambda: np.broadcast_to(2 * x - 1, (n, size, size)) * np.sign(np.cos(phase)),
        "vgradient": lambda: np.broadcast_to(2 * y - 1, (n, size, size)) * np.sign(np.cos(phase)),
        "grid": lambda: np.sin(2 * np.pi * 4 * x + phase) * np.sin(2 * np.pi * 4 * y + phase),
    }
    if name == "blob":
        centre = rng.uniform(0.3, 0.7, (n, 2, 1, 1)).astype(np.float32)
        return 2 * np.exp(-((x - centre[:, 0]) ** 2 + (y - centre[:, 1]) ** 2) / 0.03) - 1
    return wave[name]()


def _colour(index: int) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(index / len(COLOURS), 0.85, 0.9), dtype=np.float32)


def _images(
    rng: np.random.Generator, n: int, *, colour: int, pattern: int, colour_matches: float = 1.0, size: int = SIZE
) -> np.ndarray:
    """n images of one class, uint8 n x 3 x size x size: its pattern, in its colour with probability
    `colour_matches` (otherwise a random one)."""
    texture = _pattern(PATTERNS[pattern], rng, n, size)[:, None]  # n x 1 x size x size
    brightness = rng.uniform(0.75, 1.15, (n, 1, 1, 1)).astype(np.float32)
    if colour_matches < 1:
        colours = np.where(rng.random(n) < colour_matches, colour, rng.integers(0, len(COLOURS), n))
    else:
        colours = np.full(n, colour)
    palette = np.stack([_colour(i) for i in range(len(COLOURS))])
    rgb = palette[colours][:, :, None, None] * brightness * (0.6 + 0.35 * texture)
    rgb += rng.normal(0, 0.12, rgb.shape).astype(np.float32)  # enough noise that one pixel never tells the class
    return (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)


def _split(
    rng: np.random.Generator, classes: list[tuple[int, int]], per_class: int, colour_matches: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR rows (uint8 N x 3072, all R, then G, then B) and labels of every class (label = position in
    `classes`), shuffled as the real files are."""
    data = np.concatenate(
        [_images(rng, per_class, colour=c, pattern=p, colour_matches=colour_matches) for c, p in classes]
    ).reshape(len(classes) * per_class, -1)
    labels = np.repeat(np.arange(len(classes)), per_class)
    order = rng.permutation(len(labels))
    return data[order], labels[order]


def _dump(path: Path, content: dict) -> None:
    with path.open("wb") as f:
        pickle.dump(content, f, protocol=2)  # the protocol of the official files


def _batch(
    data: np.ndarray, labels: np.ndarray, label_keys: dict[str, list[int]], batch_label: str, start: int
) -> dict:
    return {
        "batch_label": batch_label,
        **label_keys,
        "data": data,
        "filenames": [f"synthetic_{start + i:06d}.png" for i in range(len(labels))],
    }


def _replace_folder(root: Path, name: str, write: Callable[[Path], None]) -> Path:
    """Write a dataset folder beside its final place, then swap it in: a reader never sees half a dataset."""
    root.mkdir(parents=True, exist_ok=True)
    final, staging = root / name, root / f".{name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    write(staging)
    (staging / NOTICE_FILE).write_text(
        "SYNTHETIC DATA written by flashjobs (app/synthetic_data.py): coloured patterns in the CIFAR file layout.\n"
        "Not the real CIFAR images; accuracies measured on it say nothing about CIFAR.\n"
    )
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)
    return final


def write_cifar10(
    root: Path, *, train_per_class: int, val_per_class: int, seed: int = 0, colour_matches: float = 0.5
) -> Path:
    """Write root/cifar-10-batches-py/ (data_batch_1..5, test_batch, batches.meta) with synthetic images.

    Class i is pattern i, drawn in colour i with probability `colour_matches`: at 1 the colour alone tells
    the class (what tiny test runs learn in a few steps); at 0.5 a backbone must learn the patterns too.
    """
    rng = np.random.default_rng(seed)
    classes = [(i, i) for i in range(len(PATTERNS))]  # class i: pattern i, colour i

    def write(folder: Path) -> None:
        data, labels = _split(rng, classes, train_per_class, colour_matches)
        for i, (chunk, chunk_labels) in enumerate(
            zip(
                np.array_split(data, CIFAR10_TRAIN_BATCHES), np.array_split(labels, CIFAR10_TRAIN_BATCHES), strict=True
            ),
            start=1,
        ):
            _dump(
                folder / f"data_batch_{i}",
                _batch(
                    chunk,
                    chunk_labels,
                    {"labels": chunk_labels.tolist()},
                    f"synthetic training batch {i} of {CIFAR10_TRAIN_BATCHES}",
                    start=(i - 1) * len(chunk),
                ),
            )
        val, val_labels = _split(rng, classes, val_per_class, colour_matches)
        _dump(
            folder / "test_batch",
            _batch(val, val_labels, {"labels": val_labels.tolist()}, "synthetic testing batch 1 of 1", start=0),
        )
        _dump(
            folder / "batches.meta",
            {
                "num_cases_per_batch": int(np.ceil(len(labels) / CIFAR10_TRAIN_BATCHES)),
                "label_names": CIFAR10_CLASSES,
                "num_vis": 3 * SIZE * SIZE,
            },
        )

    return _replace_folder(root, CIFAR10_FOLDER, write)


def write_cifar100(root: Path, *, train_per_class: int, val_per_class: int, seed: int = 0) -> Path:
    """Write root/cifar-100-python/ (train, test, meta) with synthetic images: 10 colours x 10 patterns."""
    rng = np.random.default_rng(seed + 100)  # not the CIFAR-10 draws again
    classes = [(c, p) for p in range(len(PATTERNS)) for c in range(len(COLOURS))]

    def labels_of(fine: np.ndarray) -> dict[str, list[int]]:
        return {"fine_labels": fine.tolist(), "coarse_labels": (fine // 5).tolist()}

    def write(folder: Path) -> None:
        data, labels = _split(rng, classes, train_per_class)
        _dump(folder / "train", _batch(data, labels, labels_of(labels), "synthetic training batch 1 of 1", start=0))
        val, val_labels = _split(rng, classes, val_per_class)
        _dump(
            folder / "test", _batch(val, val_labels, labels_of(val_labels), "synthetic testing batch 1 of 1", start=0)
        )
        _dump(folder / "meta", {"fine_label_names": CIFAR100_CLASSES, "coarse_label_names": CIFAR100_COARSE_CLASSES})

    return _replace_folder(root, CIFAR100_FOLDER, write)


def write_image_folder(root: Path, classes: list[str], *, per_class: int, size: int, seed: int = 0) -> Path:
    """Write root/<class>/<class>_<i>.png (size x size): class k is pattern k in its own colour; returns root."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    root = Path(root)
    for label, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        colour = label * len(COLOURS) // len(classes) % len(COLOURS)  # hues spread over the wheel
        images = _images(rng, per_class, colour=colour, pattern=label % len(PATTERNS), size=size)
        for i, image in enumerate(images):
            Image.fromarray(image.transpose(1, 2, 0)).save(root / name / f"{name}_{i}.png")
    return root


def write_pattern_folder(
    root: Path, classes: list[tuple[int, int]], *, per_class: int, size: int, colour_matches: float = 1.0, seed: int = 0
) -> Path:
    """Write root/c<k>/<i>.png: class k is (colour, pattern) = classes[k], painted in its colour with probability
    `colour_matches` (0: at random, so that only the pattern tells the class); returns root."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    root = Path(root)
    for label, (colour, pattern) in enumerate(classes):
        (root / f"c{label}").mkdir(parents=True, exist_ok=True)
        images = _images(rng, per_class, colour=colour, pattern=pattern, colour_matches=colour_matches, size=size)
        for i, image in enumerate(images):
            Image.fromarray(image.transpose(1, 2, 0)).save(root / f"c{label}" / f"{i}.png")
    return root
