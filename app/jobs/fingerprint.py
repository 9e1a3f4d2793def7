"""A job's fingerprint: the sha256 of what decides its weights, so that `reuse: if_identical` can answer with an
earlier job that trained them already.

Left out are the fields that change when or how a job is run and reported, not what it learns: priority,
trainer.num_workers (DataLoader processes only decode and resize; the random crop and flip run on each batch in
the training process, worker/training/transforms.py), metrics (how F1 is averaged) and reuse itself. The
dataset enters by its content: an upload by the sha256 of its bytes, CIFAR by its name, limits and image size.
A server-side folder has no fingerprint (its files can change under the same path), nor has an upload whose
bytes are not known yet: such jobs are never reused. A finetune's spec names its parent's id, so it matches only
a finetune of the same parent job (which a reused step of a chain is).
"""

import hashlib
import json
from typing import Any

from app.datasets.models import Dataset
from app.datasets.status import DatasetStatus
from app.jobs.schemas import NUM_CLASSES
from app.jobs.specs import TRAINS

CIFAR_IMAGE_SIZE = 32
_NOT_WEIGHTS = ("priority", "reuse", "metrics")
_NOT_WEIGHTS_TRAINER = ("num_workers",)


def spec_fingerprint(spec: dict[str, Any], *, dataset: Dataset | None) -> str | None:
    """The fingerprint of a normalised train or finetune spec; None when its data has no fixed identity."""
    if spec.get("kind") not in TRAINS:
        return None
    content = dataset_identity(spec["dataset"], dataset=dataset)
    if content is None:
        return None
    kept = {name: value for name, value in spec.items() if name not in _NOT_WEIGHTS}
    kept["trainer"] = {name: value for name, value in spec["trainer"].items() if name not in _NOT_WEIGHTS_TRAINER}
    kept["dataset"] = content
    canonical = json.dumps(kept, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def dataset_identity(dataset_spec: dict[str, Any], *, dataset: Dataset | None) -> dict[str, Any] | None:
    """What the images are, independent of where they are stored; None for folders and unknown uploads."""
    limits = {"train_limit": dataset_spec.get("train_limit"), "val_limit": dataset_spec.get("val_limit")}
    if dataset_spec.get("name") in NUM_CLASSES:
        image_size = dataset_spec.get("image_size") or CIFAR_IMAGE_SIZE
        return {"name": dataset_spec["name"], **limits, "image_size": image_size}
    if dataset is None or dataset.status != DatasetStatus.READY or not dataset.sha256:
        return None
    return {"sha256": dataset.sha256, **limits, "image_size": dataset_spec.get("image_size")}
