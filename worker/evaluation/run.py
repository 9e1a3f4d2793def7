"""An evaluation: a job's model.pt over every image of an uploaded dataset (train and val splits alike), with
training's metrics (worker/training/metrics.SplitMetrics), a confusion matrix and predictions.csv.

The model is loaded and applied as the prediction server does (worker/serving/models.load_model and
predict.logits_of): the same TorchScript file, the same decode, resize and normalisation.
"""

import csv
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torchmetrics.classification import MulticlassConfusionMatrix

from app.datasets.images import DATASET_PIXELS_SETTING, PixelLimit
from app.datasets.ingest import FILES
from app.datasets.storage import dataset_dir
from worker.serving.models import ModelUnavailable, default_device, load_model
from worker.serving.predict import BadImage, logits_of, top_k_of
from worker.training.artifacts import write_atomically
from worker.training.errors import TrainingError
from worker.training.metrics import SplitMetrics
from worker.training.reporter import Reporter
from worker.training.uploaded import read_uploaded

BATCH = 64
CSV_NAME = "predictions.csv"


@dataclass(frozen=True)
class Evaluated:
    """What an evaluation leaves: the result stored on the job and predictions.csv."""

    result: dict
    predictions: Path


def _images(artifact_dir: Path, dataset_id: str, seed: int) -> tuple[list[str], list[tuple[str, Path, int]]]:
    """The dataset's classes and its (split, file, class index) images, train first (holdout included)."""
    data = read_uploaded(artifact_dir, dataset_id, seed)
    images = [
        (name, Path(path), int(label))
        for name, split in (("train", data.train), ("val", data.val))
        for path, label in zip(split.images, split.labels, strict=True)
    ]
    return data.class_names, images


def evaluate(
    *,
    spec: dict,
    model_path: Path,
    model_sha256: str,
    artifact_dir: Path,
    work_dir: Path,
    seed: int,
    reporter: Reporter,
    max_pixels: int,
    progress_every_s: float = 2.0,
) -> Evaluated | None:
    """The evaluation of `spec` (app/evaluations/specs.normalize_evaluation); None: stopped by the reporter."""
    started = time.monotonic()
    try:
        model = load_model(model_path, sha256=model_sha256, device=default_device())
    except ModelUnavailable as exc:
        raise TrainingError("bad_model", exc.message) from None
    dataset_classes, images = _images(artifact_dir, spec["dataset"]["id"], seed)
    try:  # dataset class index -> model class index
        to_model = [model.class_names.index(spec["class_map"][name]) for name in dataset_classes]
    except (KeyError, ValueError):
        raise TrainingError("bad_classes", f"class_map {spec['class_map']} does not fit {model.class_names}") from None
    classes = len(model.class_names)
    metrics = SplitMetrics(classes, spec["f1_average"]).to(model.device)
    confusion = MulticlassConfusionMatrix(classes, validate_args=False).to(model.device)
    top_k = min(spec["top_k"], classes)
    limit = PixelLimit(max_pixels, DATASET_PIXELS_SETTING)  # checked at upload, and again as decoded
    files_dir = dataset_dir(artifact_dir, spec["dataset"]["id"]) / FILES
    rows = []
    batches = (len(images) + BATCH - 1) // BATCH
    last_progress = float("-inf")
    for number, start in enumerate(range(0, len(images), BATCH), start=1):
        chunk = images[start : start + BATCH]
        try:
            data = [path.read_bytes() for _, path, _ in chunk]
            # clone: a normal tensor, for the metrics' states
            logits = logits_of(model, data, limit=limit).float().clone()
        except BadImage as exc:
            raise TrainingError("bad_image", f"{chunk[exc.index][1].relative_to(files_dir)}: {exc.message}") from None
        targets = torch.tensor([to_model[label] for _, _, label in chunk], device=model.device)
        metrics.update(logits, targets, torch.nn.functional.cross_entropy(logits, targets))
        confusion.update(logits.argmax(dim=-1), targets)
        values, indices = top_k_of(logits.softmax(dim=-1), top_k)
        for (_, path, _), target, row_p, row_i in zip(
            chunk, targets.tolist(), values.tolist(), indices.tolist(), strict=True
        ):
            top = [field for p, i in zip(row_p, row_i, strict=True) for field in (model.class_names[i], f"{p:.6f}")]
            rows.append([str(path.relative_to(files_dir)), model.class_names[target], *top])
        if reporter.should_stop():
            return None
        now = time.monotonic()
        if now - last_progress >= progress_every_s or number == batches:
            elapsed = now - started
            reporter.progress(
                epoch=0,
                batch=number,
                num_batches=batches,
                images_per_second=(start + len(chunk)) / elapsed if elapsed > 0 else 0.0,
                eta_seconds=elapsed / number * (batches - number),
            )
            last_progress = now

    header = ["path", "true_label", *(f"{what}_{i}" for i in range(1, top_k + 1) for what in ("label", "probability"))]

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)

    predictions = write_atomically(work_dir / CSV_NAME, write)
    splits = {name: sum(split == name for split, _, _ in images) for name in ("train", "val")}
    result = {
        "metrics": metrics.compute() if images else {},
        "confusion_matrix": {"labels": model.class_names, "matrix": confusion.compute().cpu().tolist()},
        "images": len(images),
        "splits": splits,
        "seconds": round(time.monotonic() - started, 3),
    }
    return Evaluated(result, predictions)
