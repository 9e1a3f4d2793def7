"""Expected durations from past runs: the newest succeeded runs of a project with the same kind, backbone, image
size, devices and precision, their training images per second pooled.

Each epoch records train_images_per_second and train_epoch_seconds (worker/training/metrics.py), so a run's
training images are their product summed over epochs; a run without them (it recorded no epoch) counts its
training images times epochs over its wall time. What a run spends outside training (start-up, validation,
artifacts) is the mean over the basis of its wall time less its training seconds, added once.
"""

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access.principal import Principal
from app.datasets.models import Dataset
from app.datasets.status import DatasetStatus
from app.datasets.usage import attach_dataset
from app.estimates.schemas import Estimate
from app.jobs.fingerprint import CIFAR_IMAGE_SIZE
from app.jobs.models import Job
from app.jobs.schemas import NUM_CLASSES, JobSpec
from app.jobs.specs import TRAINS, normalize, resolve_parent
from app.jobs.status import JobStatus
from app.metrics.models import Metric

BASIS_RUNS = 20  # the newest runs that count: the machine and the code change over time
SCANNED = 1000  # succeeded jobs of the kind read to find them (their specs are JSON, matched here)
CIFAR_TRAIN_IMAGES = 50_000  # CIFAR-10 and CIFAR-100 alike
HOLDOUT_FRACTION = 0.1  # what a dataset without a validation split holds out (worker/training/image_folders.py)
SPEED_SERIES = ("images_per_second", "epoch_seconds")

BasisKey = tuple[str, str, int, int, str]


def image_size(spec: dict[str, Any]) -> int | None:
    dataset = spec["dataset"]
    return dataset.get("image_size") or (CIFAR_IMAGE_SIZE if dataset.get("name") in NUM_CLASSES else None)


def basis_key(spec: dict[str, Any]) -> BasisKey | None:
    """What a run's speed depends on: kind, backbone, image size, devices, precision; None if not known yet."""
    size = image_size(spec)
    if spec.get("kind") not in TRAINS or size is None:
        return None
    trainer = spec["trainer"]
    return spec["kind"], spec["model"]["backbone"], size, trainer["devices"], trainer["precision"]


def train_images(spec: dict[str, Any], *, dataset: Dataset | None) -> int | None:
    """Training images per epoch; None for a server-side folder (not counted before a run) or an unready upload."""
    data = spec["dataset"]
    if data.get("name") in NUM_CLASSES:
        count = CIFAR_TRAIN_IMAGES
    elif dataset is not None and dataset.status == DatasetStatus.READY:
        summary = dataset.summary
        count = sum(summary["splits"]["train"].values())
        if "val" not in summary["splits"]:
            count -= round(count * HOLDOUT_FRACTION)
    else:
        return None
    return min(count, data["train_limit"]) if data.get("train_limit") else count


def estimate(
    session: Session,
    *,
    spec: dict[str, Any],
    dataset: Dataset | None,
    project_id: str,
    cache: dict[BasisKey, tuple[int, float, float] | None] | None = None,
) -> Estimate:
    """The expected duration of a normalised spec in `project_id`; `cache` spares a chain the same basis twice."""
    key, images = basis_key(spec), train_images(spec, dataset=dataset)
    if key is None or images is None:
        why = "a server-side folder is not counted before a run" if spec["dataset"].get("name") == "folder" else ""
        return _none(why or "the dataset is not ready: its image size and count are not known yet", images)
    cache = {} if cache is None else cache
    if key not in cache:
        cache[key] = _basis(session, key=key, project_id=project_id)
    basis = cache[key]
    if basis is None:
        kind, backbone, size, devices, precision = key
        what = f"{kind}, {backbone}, image size {size}, {devices} device(s), precision {precision}"
        return _none(f"no succeeded run of this project yet with the same {what}", images)
    runs, images_per_second, overhead = basis
    per_epoch = images / images_per_second
    return Estimate(
        seconds=round(per_epoch * spec["trainer"]["max_epochs"] + overhead, 1),
        per_epoch_seconds=round(per_epoch, 3),
        basis_runs=runs,
        images_per_second=round(images_per_second, 1),
        train_images=images,
        reason=None,
    )


def _none(reason: str, images: int | None) -> Estimate:
    return Estimate(
        seconds=None,
        per_epoch_seconds=None,
        basis_runs=0,
        images_per_second=None,
        train_images=images,
        reason=reason,
    )


def _basis(session: Session, *, key: BasisKey, project_id: str) -> tuple[int, float, float] | None:
    """(runs, pooled training images per second, mean seconds outside training) of the newest matching runs."""
    done = [Job.project_id == project_id, Job.kind == key[0], Job.status == JobStatus.SUCCEEDED]
    query = select(Job).where(*done, Job.started_at.is_not(None), Job.finished_at.is_not(None))
    query = query.order_by(Job.finished_at.desc(), Job.id.desc()).limit(SCANNED)
    runs = [job for job in session.scalars(query) if basis_key(job.spec) == key][:BASIS_RUNS]
    if not runs:
        return None
    speeds: dict[str, dict[int, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    series = select(Metric.job_id, Metric.epoch, Metric.name, Metric.value).where(
        Metric.job_id.in_([job.id for job in runs]), Metric.split == "train", Metric.name.in_(SPEED_SERIES)
    )
    for job_id, epoch, name, value in session.execute(series):
        speeds[job_id][epoch][name] = value
    total_images = total_seconds = outside = 0.0
    counted = 0
    for job in runs:
        wall = (job.finished_at - job.started_at).total_seconds()
        epochs = [e for e in speeds[job.id].values() if len(e) == len(SPEED_SERIES)]
        if epochs:
            images = sum(e["images_per_second"] * e["epoch_seconds"] for e in epochs)
            seconds = sum(e["epoch_seconds"] for e in epochs)
        else:
            per_epoch = train_images(job.spec, dataset=session.get(Dataset, job.dataset_id) if job.dataset_id else None)
            images, seconds = (per_epoch or 0) * job.epochs_done, wall
        if images <= 0 or seconds <= 0:
            continue
        total_images, total_seconds, outside = total_images + images, total_seconds + seconds, outside + wall - seconds
        counted += 1
    if not counted:
        return None
    return counted, total_images / total_seconds, max(outside / counted, 0.0)


def estimate_spec(session: Session, *, spec: JobSpec, principal: Principal) -> Estimate:
    """POST /v1/estimates: the spec checked as POST /v1/jobs checks it (422 the same), then its estimate."""
    parent = resolve_parent(session, spec=spec, earlier=[], loc=["body"], sees=principal.sees)
    normalized = normalize(spec=spec, parent=parent, loc=["body"])
    dataset_id, _ = attach_dataset(session, dataset=normalized["dataset"], loc=["body", "dataset"], sees=principal.sees)
    dataset = session.get(Dataset, dataset_id) if dataset_id else None
    return estimate(session, spec=normalized, dataset=dataset, project_id=principal.project_id)
