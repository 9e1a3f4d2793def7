"""Evaluations: a succeeded job's model run over every image of a dataset, as a job on a worker."""

from fastapi import APIRouter

from app.api.auth import PrincipalDep
from app.api.deps import JobDep, JobId, SessionDep
from app.api.openapi import WITH_BODY, Message
from app.core.db import read_in_thread
from app.evaluations.schemas import EvaluationIn, EvaluationOut, EvaluationSpec
from app.evaluations.service import evaluation_out, get_evaluation
from app.jobs.creation import create_chain
from app.jobs.dispatch import dispatch

router = APIRouter(prefix="/v1", tags=["evaluations"])
REFUSED = {
    404: {"model": Message, "description": "No job, or no dataset, with this id"},
    409: {"model": Message, "description": "The job has no model yet, or the dataset is not ready"},
}
EVALUATION_NOT_FOUND = {404: {"model": Message, "description": "No evaluation with this id"}}


@router.post(
    "/jobs/{job_id}/evaluations", status_code=201, response_model=EvaluationOut, responses={**WITH_BODY, **REFUSED}
)
def create_evaluation(job: JobDep, body: EvaluationIn, session: SessionDep, principal: PrincipalDep) -> EvaluationOut:
    """Run the job's model over every image of a dataset: predictions.csv, and accuracy, F1, AUROC and a confusion
    matrix; a short job on a worker, polled by id. The dataset's classes must be the model's, or class_map maps
    them."""
    spec = EvaluationSpec(**body.model_dump(), job_id=job.id)
    jobs, runnable, _ = create_chain(session, steps=[spec], loc=["body"], principal=principal)
    session.commit()
    dispatch(runnable)
    return evaluation_out(jobs[0])


@router.get("/evaluations/{evaluation_id}", response_model=EvaluationOut, responses={**EVALUATION_NOT_FOUND})
async def read_evaluation(evaluation_id: JobId, principal: PrincipalDep) -> EvaluationOut:
    """An evaluation: its status, progress and, once it succeeded, its metrics and confusion matrix."""
    return await read_in_thread(get_evaluation, evaluation_id=evaluation_id, sees=principal.sees)
