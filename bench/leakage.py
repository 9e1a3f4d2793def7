"""Leakage check: its cost at a finetune's start on CIFAR-sized data, and what it finds of planted copies.

What it measures
    The demo's chain at full size on synthetic CIFAR-format files: a parent trained on CIFAR-10 (50 000 training
    images), a finetune on CIFAR-100 (10 000 validation images). Check: worker.training.leakage.check_chain,
    which the attempt runs before training (both datasets read from their files, fingerprinted, matched).
    Baseline: worker.training.data.build_data for the finetune, which every job's start does anyway (its
    dataset read, limited, wrapped in Flash's DataModule). Ratio = check seconds / baseline seconds; the issue
    asks that the check add no more than a few seconds.
    Then recall: 50 000 distinct pictures (smooth random fields) as the parent, 10 000 as the child of which 500
    are copies of parent images (250 byte-identical, 250 JPEG re-encoded at quality 50-95); found / planted, and
    anything else found (false positives: the pictures are otherwise distinct).
How to run
    .venv/bin/python bench/leakage.py          # ~2 min on 2 cores, most of it writing the files
Output
    bench/results/leakage.json; docs/transfer.md reports a run.
"""

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import loadavg, machine, write_results

from app.jobs.schemas import JobSpec
from app.synthetic_data import write_cifar10, write_cifar100


def _timed(fn, repeats: int = 3) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def chain_cost(data_dir: Path) -> dict:
    from worker.training.data import build_data
    from worker.training.leakage import check_chain

    parent = JobSpec.model_validate({"kind": "train", "dataset": {"name": "cifar10"}})
    child = JobSpec.model_validate(
        {"kind": "finetune", "dataset": {"name": "cifar100"}, "init_from": {"job_id": "parent"}}
    )
    baseline_s, _ = _timed(lambda: build_data(child, data_dir=data_dir, allow_downloads=False))
    check_s, warnings = _timed(
        lambda: check_chain(child, parent, data_dir=data_dir, allow_downloads=False, artifact_dir=None)
    )
    found = warnings[0] if warnings else {}
    return {
        "parent_train_images": 50_000,
        "child_val_images": 10_000,
        "baseline_build_data_s": round(baseline_s, 3),
        "check_s": round(check_s, 3),
        "ratio": round(check_s / baseline_s, 2),
        "found_on_synthetic": {k: found.get(k) for k in ("count", "exact", "perceptual")},
    }


def recall() -> dict:
    import io

    from PIL import Image

    from worker.training.datasets import Split
    from worker.training.leakage import fingerprints, val_in_parent_train

    rng = np.random.default_rng(0)

    def distinct(n: int) -> np.ndarray:
        coarse = rng.uniform(0, 255, (n, 3, 4, 4)).astype(np.float32)
        # Bilinear upsampling of a 4 x 4 field, as a separable matrix product: one batch, no per-image loop.
        up = np.clip((np.arange(32) + 0.5) / 8 - 0.5, 0, 3)
        weights = np.maximum(0, 1 - np.abs(up[:, None] - np.arange(4)[None, :])).astype(np.float32)
        smooth = np.einsum("ij,ncjk,lk->ncil", weights, coarse, weights)
        return np.clip(smooth + rng.normal(0, 6, smooth.shape), 0, 255).astype(np.uint8)

    def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
        buffer = io.BytesIO()
        Image.fromarray(image.transpose(1, 2, 0)).save(buffer, format="JPEG", quality=quality)
        return np.asarray(Image.open(buffer).convert("RGB")).transpose(2, 0, 1)

    parent = distinct(50_000)
    child = distinct(10_000)
    sources = rng.choice(len(parent), 500, replace=False)
    child[:250] = parent[sources[:250]]
    qualities = rng.integers(50, 96, 250)
    child[250:500] = np.stack([jpeg(parent[s], int(q)) for s, q in zip(sources[250:], qualities, strict=True)])
    labels = np.zeros(len(parent), dtype=np.int64)
    start = time.perf_counter()
    parent_fp, child_fp = fingerprints(Split(parent, labels)), fingerprints(Split(child, labels[: len(child)]))
    fingerprint_s = time.perf_counter() - start
    start = time.perf_counter()
    warning = val_in_parent_train(
        child_fp, parent_fp, child_names=list(range(len(child))), parent_names=list(range(len(parent)))
    )
    match_s = time.perf_counter() - start
    assert warning is not None
    from worker.training.leakage import _nearest_parents

    near, distance = _nearest_parents(child_fp.phash, parent_fp.phash, 7)
    jpeg_found = near[250:500] == sources[250:]
    return {
        "planted_exact": 250,
        "planted_jpeg": 250,
        "found_exact": warning["exact"],
        "found_jpeg_to_its_source": int(jpeg_found.sum()),
        "found_total": warning["count"],
        "false_positives": warning["count"] - 250 - int(jpeg_found.sum()),
        "jpeg_distance_histogram": np.bincount(distance[250:500][jpeg_found], minlength=8).tolist(),
        "fingerprint_60k_s": round(fingerprint_s, 3),
        "match_s": round(match_s, 3),
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        write_cifar10(data_dir, train_per_class=5000, val_per_class=1000)
        write_cifar100(data_dir, train_per_class=500, val_per_class=100)
        cost = chain_cost(data_dir)
    payload = {"machine": machine(), "loadavg": loadavg(), "chain": cost, "recall": recall()}
    print(payload)
    print(f"wrote {write_results('leakage', payload)}")


if __name__ == "__main__":
    main()
