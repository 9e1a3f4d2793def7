"""Estimates: how long a job spec is expected to run, from the project's past runs."""

from fastapi import APIRouter

from app.api.auth import READS, PrincipalDep
from app.api.deps import SessionDep
from app.api.openapi import WITH_BODY
from app.core.config import get_settings
from app.estimates.schemas import Estimate
from app.estimates.service import estimate_spec
from app.jobs.limits import check_limits
from app.jobs.schemas import JobSpec

router = APIRouter(prefix="/v1", tags=["estimates"])


@router.post("/estimates", response_model=Estimate, responses={**WITH_BODY}, openapi_extra=READS)
def create_estimate(spec: JobSpec, session: SessionDep, principal: PrincipalDep) -> Estimate:
    """The expected duration of a job spec (checked as POST /v1/jobs checks it), from the images per second of
    the project's newest succeeded runs of the same kind, backbone, image size, devices and precision; a read
    key may ask. Nothing is created."""
    check_limits([spec], loc=["body"], settings=get_settings())
    return estimate_spec(session, spec=spec, principal=principal)
