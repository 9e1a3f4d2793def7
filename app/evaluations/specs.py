"""An evaluation's spec checked against its job and dataset: a model to run, a ready dataset, classes that match."""

import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.artifacts import service as artifacts
from app.core.config import get_settings
from app.core.errors import Conflict, Invalid, NotFound
from app.datasets.models import Dataset, is_dataset_id
from app.datasets.status import DatasetStatus
from app.evaluations.schemas import EvaluationSpec
from app.jobs.models import Job
from app.jobs.specs import TRAINS
from app.jobs.status import JobStatus

CLASS_NAMES = "extra/class_names.json"  # where torch.jit.save keeps an extra file inside the model's zip


def model_class_names(path: Path) -> list[str]:
    """The class names model.pt carries (worker/training/artifacts.py), read from its zip without torch."""
    try:
        with zipfile.ZipFile(path) as archive:
            name = next(n for n in archive.namelist() if n.endswith("/" + CLASS_NAMES) and n.count("/") == 2)
            names = json.loads(archive.read(name))
    except (OSError, StopIteration, zipfile.BadZipFile, ValueError):
        names = None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise Conflict(f"{path.name} carries no class names: it cannot be evaluated")
    return names


def evaluated_job(session: Session, *, job_id: str, sees: Callable[[str], bool]) -> tuple[Job, list[str]]:
    """The job and its model's class names; 404 for one the key does not see, 409 without a model to run."""
    job = session.get(Job, job_id)
    if job is None or not sees(job.project_id):
        raise NotFound(f"no job {job_id!r}")
    if job.kind not in TRAINS:
        raise Conflict(f"job {job.id} is a {job.kind} job: only train and finetune jobs leave a model")
    if job.status != JobStatus.SUCCEEDED:
        raise Conflict(f"job {job.id} is {job.status}: evaluations need a job that has succeeded")
    model = artifacts.get(session, job_id=job.id, name="model")
    if model is None:
        raise Conflict(f"job {job.id} has no model artifact to evaluate")
    return job, model_class_names(get_settings().effective_artifact_dir / model.path)


def ready_dataset(session: Session, *, dataset_id: str, sees: Callable[[str], bool]) -> Dataset:
    """The dataset, locked against a concurrent delete; 404 for one the key does not see, 409 until it is ready."""
    query = select(Dataset).where(Dataset.id == dataset_id).with_for_update()
    dataset = session.scalar(query) if is_dataset_id(dataset_id) else None
    if dataset is None or not sees(dataset.project_id):
        raise NotFound(f"no dataset {dataset_id!r}")
    if dataset.status != DatasetStatus.READY:
        raise Conflict(f"dataset {dataset_id} is {dataset.status}: evaluations need a ready dataset")
    return dataset


def resolve_class_map(
    dataset_classes: list[str], model_classes: list[str], class_map: dict[str, str] | None, *, loc: list[str | int]
) -> dict[str, str]:
    """dataset class -> model class for every dataset class; 422 listing both sets where they do not match."""
    both = f"the dataset's classes are {dataset_classes}; the model's are {model_classes}"
    if class_map is None:
        if sorted(dataset_classes) != sorted(model_classes):
            raise Invalid([*loc, "dataset_id"], f"the classes differ ({both}): give class_map to map them")
        return {name: name for name in dataset_classes}
    for name, target in class_map.items():
        if name not in dataset_classes:
            raise Invalid([*loc, "class_map", name], f"{name!r} is no class of the dataset ({both})")
        if target not in model_classes:
            raise Invalid([*loc, "class_map", name], f"{target!r} is no class of the model ({both})")
    missing = [name for name in dataset_classes if name not in class_map]
    if missing:
        raise Invalid([*loc, "class_map"], f"class_map does not map {missing} ({both})")
    return {name: class_map[name] for name in dataset_classes}


def normalize_evaluation(
    session: Session, *, spec: EvaluationSpec, loc: list[str | int], sees: Callable[[str], bool]
) -> tuple[dict[str, Any], Job]:
    """The stored spec of an evaluation and the job it evaluates (its parent)."""
    job, model_classes = evaluated_job(session, job_id=spec.job_id, sees=sees)
    dataset = ready_dataset(session, dataset_id=spec.dataset_id, sees=sees)
    class_map = resolve_class_map(dataset.summary["classes"], model_classes, spec.class_map, loc=loc)
    normalized = {
        "kind": "evaluate",
        "job_id": job.id,
        "dataset": {"id": dataset.id},
        "class_map": class_map,
        "top_k": min(spec.top_k, len(model_classes)),
        "f1_average": (job.spec.get("metrics") or {}).get("f1_average", "macro"),
    }
    return normalized, job
