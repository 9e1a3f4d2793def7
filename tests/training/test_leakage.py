"""The leakage check: its pHash pair search against all pairs, re-encoded copies found, distinct images not."""

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.jobs.schemas import JobSpec
from worker.training.datasets import Split
from worker.training.leakage import (
    PHASH_MAX_DISTANCE,
    check_chain,
    fingerprints,
    near_pairs,
    popcount64,
    val_in_parent_train,
)


def distinct_images(n: int, seed: int, size: int = 32) -> np.ndarray:
    """uint8 n x 3 x size x size pictures that differ in their coarse layout (smooth random fields, upsampled)."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (n, 3, 4, 4)).astype(np.float32)
    smooth = np.stack(
        [
            np.stack([np.asarray(Image.fromarray(c, mode="F").resize((size, size), Image.BICUBIC)) for c in img])
            for img in coarse
        ]
    )
    return np.clip(smooth + rng.normal(0, 6, smooth.shape), 0, 255).astype(np.uint8)


def jpeg_copy(image: np.ndarray, quality: int = 75, size: int | None = None) -> np.ndarray:
    """The picture re-encoded as a JPEG (and resized), decoded back to uint8 3 x H x W."""
    pil = Image.fromarray(image.transpose(1, 2, 0))
    if size:
        pil = pil.resize((size, size), Image.BILINEAR)
    buffer = io.BytesIO()
    pil.save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB")).transpose(2, 0, 1).copy()


def test_popcount_counts_bits():
    values = np.array([0, 1, 3, 2**63, 2**64 - 1, 0xF0F0], dtype=np.uint64)
    assert popcount64(values).tolist() == [bin(int(v)).count("1") for v in values]


@pytest.mark.parametrize("max_distance", [0, 3, 4, 7])
def test_near_pairs_finds_exactly_the_pairs_a_full_comparison_finds(max_distance):
    rng = np.random.default_rng(max_distance)
    parent = rng.integers(0, 2**63, 3000, dtype=np.int64).astype(np.uint64) * np.uint64(2) + np.uint64(1)
    child = rng.integers(0, 2**63, 400, dtype=np.int64).astype(np.uint64)
    # Plant children at every distance 0..9 from some parent, with the flipped bits anywhere.
    for i in range(200):
        flips = rng.choice(64, size=i % 10, replace=False)
        child[i] = parent[rng.integers(len(parent))] ^ np.uint64(sum(1 << int(b) for b in flips))
    c, p, d = near_pairs(child, parent, max_distance)
    full = popcount64(child[:, None] ^ parent[None, :])
    expected = {(int(i), int(j)) for i, j in zip(*np.nonzero(full <= max_distance), strict=True)}
    assert {(int(i), int(j)) for i, j in zip(c, p, strict=True)} == expected
    assert len(expected) >= 20 * (max_distance + 1)  # the planted pairs are there to find
    assert (d == full[c, p]).all()


def test_copies_are_found_exactly_or_perceptually_and_distinct_pictures_are_not():
    parent = distinct_images(600, seed=1)
    fresh = distinct_images(300, seed=2)
    exact = parent[:10]
    jpegs = np.stack([jpeg_copy(parent[10 + i]) for i in range(10)])
    child = np.concatenate([fresh, exact, jpegs])
    warning = val_in_parent_train(
        fingerprints(Split(child, np.zeros(len(child), dtype=np.int64))),
        fingerprints(Split(parent, np.zeros(len(parent), dtype=np.int64))),
        child_names=list(range(len(child))),
        parent_names=list(range(len(parent))),
    )
    assert warning is not None
    assert (warning["count"], warning["exact"], warning["perceptual"], warning["of"]) == (20, 10, 10, len(child))
    found = {(e["val"], e["parent_train"], e["match"]) for e in warning["examples"]}
    assert {(300 + i, i, "exact") for i in range(10)} == found & {(300 + i, i, "exact") for i in range(10)}
    assert all(e["distance"] <= PHASH_MAX_DISTANCE for e in warning["examples"] if e["match"] == "perceptual")


def test_no_overlap_is_no_warning():
    a, b = distinct_images(200, seed=3), distinct_images(200, seed=4)
    labels = np.zeros(200, dtype=np.int64)
    assert (
        val_in_parent_train(
            fingerprints(Split(a, labels)),
            fingerprints(Split(b, labels)),
            child_names=list(range(200)),
            parent_names=list(range(200)),
        )
        is None
    )


def _write_folder(root: Path, images: np.ndarray, name: str, fmt: str = "PNG") -> None:
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        Image.fromarray(image.transpose(1, 2, 0)).save(root / ("a", "b")[i % 2] / f"{name}{i}.{fmt.lower()}", fmt)


def test_a_chain_of_folder_datasets_reports_the_parent_images_in_the_child_validation_set(tmp_path):
    data = tmp_path / "data"
    parent_images = distinct_images(40, seed=5)
    _write_folder(data / "parent" / "train", parent_images, "p")
    _write_folder(data / "parent" / "val", distinct_images(10, seed=6), "pv")
    _write_folder(data / "child" / "train", distinct_images(20, seed=7), "c")
    _write_folder(data / "child" / "val", distinct_images(10, seed=8), "cv")
    shutil.copy(data / "parent" / "train" / "a" / "p0.png", data / "child" / "val" / "a" / "copied.png")
    _write_folder(data / "child" / "val_jpeg", parent_images[2:4], "reencoded", fmt="JPEG")
    for path in (data / "child" / "val_jpeg").rglob("*.jpeg"):
        shutil.move(path, data / "child" / "val" / path.parent.name / path.name)
    # Twice the size and re-encoded: the copy a scraper would find.
    Image.fromarray(jpeg_copy(parent_images[5], quality=85, size=64).transpose(1, 2, 0)).save(
        data / "child" / "val" / "b" / "bigger.jpg"
    )

    def spec(kind: str, folder: str) -> JobSpec:
        extra = {"init_from": {"job_id": "x"}} if kind == "finetune" else {}
        dataset = {"name": "folder", "train_folder": f"{folder}/train", "val_folder": f"{folder}/val"}
        return JobSpec.model_validate({"kind": kind, "dataset": dataset, **extra})

    warnings = check_chain(
        spec("finetune", "child"), spec("train", "parent"), data_dir=data, allow_downloads=False, artifact_dir=None
    )
    assert len(warnings) == 1 and warnings[0]["type"] == "val_in_parent_train"
    assert (warnings[0]["count"], warnings[0]["exact"], warnings[0]["perceptual"]) == (4, 1, 3)
    named = {(e["val"], e["parent_train"]) for e in warnings[0]["examples"]}
    assert ("a/copied.png", "a/p0.png") in named
    assert {("a/reencoded0.jpeg", "a/p2.png"), ("b/reencoded1.jpeg", "b/p3.png"), ("b/bigger.jpg", "b/p5.png")} <= named
