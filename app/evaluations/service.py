"""Evaluations: jobs of kind `evaluate` made through app/jobs/creation.create_chain, shown as the API answers them."""

from collections.abc import Callable

from sqlalchemy.orm import Session

from app.core.errors import NotFound
from app.evaluations.schemas import EvaluationOut
from app.jobs.models import Job
from app.jobs.schemas import JobError, Progress
from app.jobs.status import JobStatus

PREDICTIONS = "predictions"  # the artifact name of predictions.csv


def evaluation_out(job: Job) -> EvaluationOut:
    """An evaluation job as the API shows it."""
    spec = job.spec
    succeeded = job.status == JobStatus.SUCCEEDED and job.result is not None
    return EvaluationOut(
        id=job.id,
        status=job.status,
        job_id=spec["job_id"],
        dataset_id=spec["dataset"]["id"],
        class_map=spec["class_map"],
        top_k=spec["top_k"],
        created_at=job.created_at,
        finished_at=job.finished_at,
        progress=Progress(epoch=job.epochs_done, max_epochs=job.max_epochs),
        error=JobError(type=job.error_type, message=job.error_message or "") if job.error_type else None,
        result=job.result if succeeded else None,
        predictions_url=f"/v1/jobs/{job.id}/artifacts/{PREDICTIONS}" if succeeded else None,
    )


def get_evaluation(session: Session, *, evaluation_id: str, sees: Callable[[str], bool]) -> EvaluationOut:
    job = session.get(Job, evaluation_id)
    if job is None or job.kind != "evaluate" or not sees(job.project_id):  # another project's: as absent
        raise NotFound(f"no evaluation {evaluation_id!r}")
    return evaluation_out(job)
