"""A recommendation: features of a class-balanced sample of a dataset through each candidate backbone, scored
with LogME (worker/transfer/logme.py), best first."""

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from app.jobs.schemas import DatasetSpec, ModelSpec
from worker.training.data import default_preprocess, load_dataset
from worker.training.datasets import Split, balanced_subset
from worker.training.model import backbone_from_parent, build_backbone
from worker.training.preprocess import Preprocess, normalise
from worker.transfer.logme import logme

BATCH = 64


@dataclass(frozen=True)
class Candidate:
    """A succeeded job's backbone: its artifact and what the ranking says about it."""

    job_id: str
    backbone_path: Path
    model: ModelSpec
    dataset: dict
    kind: str


def sample_images(split: Split, preprocess: Preprocess, *, size: int, seed: int) -> tuple[torch.Tensor, np.ndarray]:
    """A class-balanced sample of at most `size` images as the normalised float batch a finetune would see."""
    indices = balanced_subset(split.labels, size, seed)
    side = preprocess.image_size
    if isinstance(split.images, np.ndarray):
        images = torch.from_numpy(split.images[indices])
        if images.shape[-1] != side or images.shape[-2] != side:
            images = torch.nn.functional.interpolate(images.float(), size=(side, side), mode="bilinear").round()
    else:
        arrays = []
        for i in indices:
            with Image.open(split.images[i]) as image:
                arrays.append(np.asarray(image.convert("RGB").resize((side, side), Image.BILINEAR)))
        images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)
    return normalise(images.to(torch.uint8), preprocess.mean, preprocess.std), split.labels[indices]


@torch.no_grad()
def features_of(backbone: torch.nn.Module, images: torch.Tensor) -> np.ndarray:
    """The backbone's pooled features (eval mode: BatchNorm uses its running statistics), n x D float64."""
    backbone.eval()
    out = []
    for start in range(0, len(images), BATCH):
        features = backbone(images[start : start + BATCH])
        if features.dim() == 4:  # backbones that stop before pooling, as Flash's adapter handles them
            features = features.mean(dim=(2, 3))
        out.append(features.double().numpy())
    return np.concatenate(out)


def rank(
    *,
    dataset: DatasetSpec,
    candidates: list[Candidate],
    sample_size: int,
    seed: int,
    include_random: bool,
    data_dir: Path,
    artifact_dir: Path | None,
) -> dict:
    """The ranking of the candidates (and a random backbone of each of their architectures) for `dataset`."""
    data = load_dataset(dataset, data_dir=data_dir, allow_downloads=False, seed=seed, artifact_dir=artifact_dir)
    images, labels = sample_images(data.train, default_preprocess(dataset, data), size=sample_size, seed=seed)
    ranking = []
    for candidate in candidates:
        started = time.monotonic()
        backbone, _ = backbone_from_parent(candidate.backbone_path, candidate.model)
        ranking.append(
            {
                "job_id": candidate.job_id,
                "score": logme(features_of(backbone, images), labels),
                "backbone": candidate.model.model_dump(),
                "dataset": candidate.dataset,
                "kind": candidate.kind,
                "seconds": round(time.monotonic() - started, 3),
            }
        )
    models = {(c.model.backbone, c.model.cifar_stem): c.model for c in candidates} or {("resnet18", False): None}
    for model in models.values() if include_random else ():
        model = model or ModelSpec(backbone="resnet18", cifar_stem=False)
        started = time.monotonic()
        torch.manual_seed(seed)
        backbone, _ = build_backbone(model)
        score = logme(features_of(backbone, images), labels)
        ranking.append(
            {
                "job_id": None,
                "score": score,
                "backbone": model.model_dump(),
                "dataset": None,
                "kind": None,
                "seconds": round(time.monotonic() - started, 3),
            }
        )
    ranking.sort(key=lambda entry: -entry["score"])
    return {"ranking": ranking, "sampled": len(labels), "classes": len(data.class_names)}
