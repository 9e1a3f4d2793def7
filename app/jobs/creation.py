"""Creating jobs: one, or a chain whose steps start from earlier ones, all or none; a step that asks
`reuse: if_identical` is answered by an identical succeeded job of the project instead (app/jobs/fingerprint.py)."""

from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access.principal import Principal
from app.access.quotas import check_queue_quota
from app.datasets.models import Dataset
from app.datasets.usage import attach_dataset
from app.estimates.service import estimate
from app.evaluations.schemas import EvaluationSpec
from app.evaluations.specs import normalize_evaluation
from app.jobs.fingerprint import spec_fingerprint
from app.jobs.models import Job, new_job
from app.jobs.schemas import JobSpec, RecommendationSpec
from app.jobs.specs import TRAINS, control_spec, normalize, normalize_recommendation, resolve_parent
from app.jobs.status import JobStatus
from app.webhooks.outbox import announce_new_jobs


class Created(NamedTuple):
    jobs: list[Job]  # step i is jobs[i] (a new job or the one reused), then the control runs
    runnable: list[str]  # the new jobs that are queued: to dispatch after the commit
    reused: set[str]  # the ids among jobs that were reused, not created


def create_chain(
    session: Session,
    *,
    steps: Sequence[JobSpec] | Sequence[RecommendationSpec] | Sequence[EvaluationSpec],
    loc: list[str | int],
    principal: Principal,
    limits: dict[str, int] | None = None,
) -> Created:
    """Validate and insert jobs of the key's project (one, or a chain whose steps may start from earlier steps);
    all or none. Parents and datasets must be ones the key sees.

    A finetune that asks for a control run brings it along, linked both ways, after the steps (so that step i
    stays jobs[i]). A recommendation or an evaluation is a job of one step; `limits` bound a recommendation
    (max_candidates, max_sample). A reused step stands in for its index, so later steps start from it."""
    limits = limits or {}
    jobs: list[Job] = []
    new: list[Job] = []
    reused: set[str] = set()
    estimates: dict = {}  # the steps of a chain often share a basis
    for index, spec in enumerate(steps):
        step_loc = [*loc, index] if len(loc) and loc[-1] == "steps" else loc
        if isinstance(spec, RecommendationSpec):
            normalized = normalize_recommendation(session, spec=spec, loc=step_loc, sees=principal.sees, **limits)
            parent = None
        elif isinstance(spec, EvaluationSpec):  # parent: the job evaluated
            normalized, parent = normalize_evaluation(session, spec=spec, loc=step_loc, sees=principal.sees)
        else:
            parent = resolve_parent(session, spec=spec, earlier=jobs, loc=step_loc, sees=principal.sees)
            normalized = normalize(spec=spec, parent=parent, loc=step_loc)
        dataset_id, dataset_ready = attach_dataset(
            session, dataset=normalized["dataset"], loc=[*step_loc, "dataset"], sees=principal.sees
        )
        dataset = session.get(Dataset, dataset_id) if dataset_id else None  # in the session already: no query
        fingerprint = spec_fingerprint(normalized, dataset=dataset)
        if normalized.get("reuse") == "if_identical" and (found := _identical(session, principal, fingerprint)):
            jobs.append(found)
            reused.add(found.id)
            continue
        ready = (parent is None or parent.status == JobStatus.SUCCEEDED) and dataset_ready
        owner = {"dataset_id": dataset_id, "project_id": principal.project_id}
        job = new_job(normalized, parent_id=parent.id if parent else None, ready=ready, **owner)
        job.spec_fingerprint = fingerprint
        jobs.append(job)
        new.append(job)
        if getattr(spec, "control", None) is not None:  # needs no parent: it may run while the parent still trains
            control = new_job(control_spec(normalized), parent_id=None, ready=dataset_ready, **owner)
            control.control_of, job.control_id = job.id, control.id
            control.spec_fingerprint = spec_fingerprint(control.spec, dataset=dataset)
            new.append(control)
    controls = [job for job in new if job.control_of is not None]
    check_queue_quota(session, project_id=principal.project_id, adding=len(new) - len(controls))
    for job in new:
        if job.kind in TRAINS:  # a recommendation or an evaluation has no epochs to estimate
            dataset = session.get(Dataset, job.dataset_id) if job.dataset_id else None
            found = estimate(session, spec=job.spec, dataset=dataset, project_id=principal.project_id, cache=estimates)
            job.estimate = found.model_dump(mode="json")
    jobs += controls
    session.add_all(new)
    session.flush()
    announce_new_jobs(session, jobs=new)  # no cache holds a new job, so no notice; webhooks hear of it
    return Created(jobs, [job.id for job in new if job.status == JobStatus.QUEUED], reused)


def _identical(session: Session, principal: Principal, fingerprint: str | None) -> Job | None:
    """The newest succeeded job of the key's project with this fingerprint."""
    if fingerprint is None:
        return None
    query = select(Job).where(
        Job.project_id == principal.project_id,
        Job.spec_fingerprint == fingerprint,
        Job.status == JobStatus.SUCCEEDED,
    )
    return session.scalars(query.order_by(Job.created_at.desc(), Job.id.desc()).limit(1)).first()
