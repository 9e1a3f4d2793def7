"""Transfer: a finetune against its control run, and which backbone to start from."""

from fastapi import APIRouter

from app.api.auth import PrincipalDep
from app.api.deps import JobDep, JobId, SessionDep
from app.api.openapi import JOB_NOT_FOUND, WITH_BODY, Message
from app.core.config import get_settings
from app.core.db import read_in_thread
from app.jobs.creation import create_chain
from app.jobs.dispatch import dispatch
from app.jobs.schemas import RecommendationSpec
from app.transfer.schemas import RecommendationOut, TransferOut
from app.transfer.service import get_recommendation, recommendation_out, transfer_report

router = APIRouter(prefix="/v1", tags=["transfer"])
RECOMMENDATION_NOT_FOUND = {404: {"model": Message, "description": "No recommendation with this id"}}


@router.get("/jobs/{job_id}/transfer", response_model=TransferOut, responses={**JOB_NOT_FOUND})
async def get_transfer(job: JobDep) -> TransferOut:
    """Per epoch, the finetune's and its control's val accuracy, loss, F1 and AUROC, the gain, epochs saved, compute."""
    return await read_in_thread(transfer_report, job_id=job.id)  # the pair shares the job's project


@router.post("/recommendations", status_code=201, response_model=RecommendationOut, responses={**WITH_BODY})
def create_recommendation(spec: RecommendationSpec, session: SessionDep, principal: PrincipalDep) -> RecommendationOut:
    """Rank the backbones of succeeded jobs for a dataset by LogME, as a short job on a worker; poll it by id."""
    settings = get_settings()
    limits = {"max_candidates": settings.recommend_max_candidates, "max_sample": settings.recommend_max_sample}
    jobs, runnable, _ = create_chain(session, steps=[spec], loc=["body"], principal=principal, limits=limits)
    session.commit()
    dispatch(runnable)
    return recommendation_out(jobs[0])


@router.get(
    "/recommendations/{recommendation_id}", response_model=RecommendationOut, responses={**RECOMMENDATION_NOT_FOUND}
)
async def read_recommendation(recommendation_id: JobId, principal: PrincipalDep) -> RecommendationOut:
    """A recommendation: its status and, once it succeeded, the ranking, best first."""
    return await read_in_thread(get_recommendation, recommendation_id=recommendation_id, sees=principal.sees)
