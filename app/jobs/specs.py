"""A submitted spec checked against what a field validator cannot see alone: its kind, its parent, its chain."""

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.errors import Invalid
from app.datasets.usage import dataset_for_job
from app.jobs.models import Job
from app.jobs.schemas import BACKBONES, NUM_CLASSES, FinetuneSpec, JobSpec, ModelSpec, RecommendationSpec
from app.jobs.status import JobStatus

TRAINS = ("train", "finetune")  # the kinds of job that leave a backbone
# A parent in one of these will never have a backbone to start from.
NO_BACKBONE = frozenset({JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.CANCELLING})


def resolve_parent(
    session: Session, *, spec: JobSpec, earlier: list[Job], loc: list[str | int], sees: Callable[[str], bool]
) -> Job | None:
    """The job whose backbone the spec starts from (an earlier step of its chain or an existing job); None: train."""
    init = spec.init_from
    if spec.kind == "train":
        if init is not None:
            raise Invalid(
                [*loc, "init_from"], "a train job starts from scratch; use kind 'finetune' to start from a job"
            )
        if spec.finetune is not None:
            raise Invalid([*loc, "finetune"], "finetune settings apply only to kind 'finetune'")
        return None
    if init is None:
        raise Invalid([*loc, "init_from"], "a finetune job needs init_from: the job whose backbone it starts from")
    if sum(given is not None for given in (init.job_id, init.step, init.random)) != 1:
        raise Invalid([*loc, "init_from"], "give exactly one of job_id, step or random")
    if init.random is not None:
        if not init.random:
            raise Invalid([*loc, "init_from", "random"], "random must be true (or left out)")
        return None
    if init.step is not None:
        if loc[-1:] == [] or not isinstance(loc[-1], int):
            raise Invalid([*loc, "init_from", "step"], "step is only valid inside a chain (POST /v1/chains)")
        if init.step >= len(earlier):
            raise Invalid([*loc, "init_from", "step"], f"step {init.step} is not an earlier step of this chain")
        return earlier[init.step]
    parent = session.get(Job, init.job_id)
    if parent is None or not sees(parent.project_id):  # another project's job is as absent as an unknown one
        raise Invalid([*loc, "init_from", "job_id"], f"no job {init.job_id!r}")
    if parent.kind not in TRAINS:
        raise Invalid([*loc, "init_from", "job_id"], f"job {parent.id} is a {parent.kind} job: it trains no backbone")
    if parent.status in NO_BACKBONE:
        raise Invalid([*loc, "init_from", "job_id"], f"job {parent.id} is {parent.status}: it will have no backbone")
    return parent


def normalize(*, spec: JobSpec, parent: Job | None, loc: list[str | int]) -> dict[str, Any]:
    """Check what a field validator cannot see alone, and fill in defaults that depend on the parent."""
    model = spec.model
    if parent is not None:
        parent_model = ModelSpec(**parent.spec["model"])
        if model is None:
            model = parent_model
        elif (model.backbone, model.cifar_stem) != (parent_model.backbone, parent_model.cifar_stem):
            raise Invalid(
                [*loc, "model", "backbone"],
                f"job {parent.id} has backbone {parent_model.backbone} (cifar_stem={parent_model.cifar_stem}); "
                f"its weights cannot initialise {model.backbone} (cifar_stem={model.cifar_stem})",
            )
    model = model or ModelSpec()
    assert model.backbone in BACKBONES

    finetune = spec.finetune
    if spec.kind == "finetune":
        finetune = finetune or FinetuneSpec()
        if finetune.strategy == "freeze_unfreeze" and finetune.unfreeze_epoch is None:
            raise Invalid([*loc, "finetune", "unfreeze_epoch"], "strategy freeze_unfreeze needs unfreeze_epoch")
        if finetune.strategy == "unfreeze_milestones":
            if finetune.milestones is None:
                raise Invalid(
                    [*loc, "finetune", "milestones"], "strategy unfreeze_milestones needs milestones [e1, e2]"
                )
            if finetune.num_layers is None:
                raise Invalid([*loc, "finetune", "num_layers"], "strategy unfreeze_milestones needs num_layers")
            if finetune.milestones[0] > finetune.milestones[1]:
                raise Invalid([*loc, "finetune", "milestones"], "milestones must be in order: e1 <= e2")

    dataset = spec.dataset
    if dataset.name == "folder" and not dataset.train_folder:
        raise Invalid([*loc, "dataset", "train_folder"], "a folder dataset needs train_folder (ImageFolder layout)")
    if dataset.name in NUM_CLASSES and (dataset.train_folder or dataset.val_folder):
        raise Invalid(
            [*loc, "dataset", "train_folder"], f"folders apply only to dataset 'folder', not {dataset.name!r}"
        )

    if spec.control is not None:
        _check_control(spec, finetune, parent, loc=[*loc, "control"])

    normalized = spec.model_copy(update={"model": model, "finetune": finetune}).model_dump(mode="json")
    if parent is not None:
        normalized["init_from"] = {"job_id": parent.id}
    return normalized


def _check_control(spec: JobSpec, finetune: FinetuneSpec | None, parent: Job | None, *, loc: list[str | int]) -> None:
    if spec.kind != "finetune" or parent is None:
        raise Invalid(loc, "a control run compares a finetune from a job's backbone with one without it")
    assert spec.control is not None and finetune is not None
    if spec.control.kind == "frozen_random" and finetune.strategy != "freeze":
        raise Invalid([*loc, "kind"], f"frozen_random is the control of strategy 'freeze', not {finetune.strategy!r}")


def control_spec(finetune: dict[str, Any]) -> dict[str, Any]:
    """The normalised spec of a finetune's control run: its data, model, seed, epochs, optimizer and metrics,
    from random weights (scratch: everything trains; frozen_random: the random backbone stays frozen)."""
    kind = finetune["control"]["kind"]
    spec = {**finetune, "control": None}
    if kind == "scratch":
        return {**spec, "kind": "train", "init_from": None, "finetune": None}
    return {**spec, "init_from": {"job_id": None, "step": None, "random": True}}


def normalize_recommendation(
    session: Session,
    *,
    spec: RecommendationSpec,
    max_candidates: int,
    max_sample: int,
    loc: list[str | int],
    sees: Callable[[str], bool],
) -> dict[str, Any]:
    """The stored spec of a recommendation: its dataset, and the succeeded jobs the key sees whose backbones it
    ranks."""
    dataset_for_job(session, dataset_id=spec.dataset_id, loc=[*loc, "dataset_id"], sees=sees)
    if spec.sample_size > max_sample:
        raise Invalid(
            [*loc, "sample_size"], f"over the limit of {max_sample} (FLASHJOBS_RECOMMEND_MAX_SAMPLE raises it)"
        )
    if spec.job_ids is None:
        newest = select(Job.id, Job.project_id).where(Job.kind.in_(TRAINS), Job.status == JobStatus.SUCCEEDED)
        newest = newest.order_by(Job.created_at.desc(), Job.id.desc())
        # Filtered here, not in SQL: an admin key sees every project, and the candidates are few.
        job_ids = [job_id for job_id, project in session.execute(newest) if sees(project)][:max_candidates]
    else:
        job_ids = list(dict.fromkeys(spec.job_ids))
        for index, job_id in enumerate(job_ids):
            job = session.get(Job, job_id)
            if job is None or job.kind not in TRAINS or not sees(job.project_id):
                raise Invalid([*loc, "job_ids", index], f"no train or finetune job {job_id!r}")
            if job.status != JobStatus.SUCCEEDED:
                raise Invalid([*loc, "job_ids", index], f"job {job_id} is {job.status}: it has no backbone yet")
    if not job_ids and not spec.include_random:
        raise Invalid([*loc, "job_ids"], "no succeeded job has a backbone to rank yet")
    return {
        **spec.model_dump(mode="json", exclude={"dataset_id", "job_ids"}),
        "dataset": {"id": spec.dataset_id},
        "job_ids": job_ids,
    }
