"""Transfer: a finetune against its control run."""

from fastapi import APIRouter

from app.api.deps import JobId
from app.api.openapi import JOB_NOT_FOUND
from app.core.db import read_in_thread
from app.transfer.schemas import TransferOut
from app.transfer.service import transfer_report

router = APIRouter(prefix="/v1", tags=["transfer"])


@router.get("/jobs/{job_id}/transfer", response_model=TransferOut, responses={**JOB_NOT_FOUND})
async def get_transfer(job_id: JobId) -> TransferOut:
    """Per epoch, the finetune's and its control's val accuracy, loss, F1 and AUROC, the gain, epochs saved, compute."""
    return await read_in_thread(transfer_report, job_id=job_id)
