"""Jobs and chains: create, read, list, cancel."""

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.access.principal import Principal
from app.api.auth import PrincipalDep
from app.api.deps import JobDep, SessionDep, VisibleJobId
from app.api.openapi import CACHED, CONFLICT, JOB_NOT_FOUND, WITH_BODY
from app.api.responses import etag_json
from app.core.bounds import PRINTABLE
from app.core.config import get_settings
from app.core.db import read_in_thread
from app.jobs import idempotency, service
from app.jobs.creation import create_chain as create_jobs
from app.jobs.dispatch import dispatch
from app.jobs.limits import check_limits
from app.jobs.models import Job
from app.jobs.schemas import ChainIn, ChainOut, JobOut, JobPage, JobSpec, job_out
from app.jobs.status import JobStatus
from app.jobs.views import job_views

router = APIRouter(prefix="/v1", tags=["jobs"])
IdempotencyKeyHeader = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


def _create(
    session: SessionDep,
    principal: Principal,
    *,
    route: str,
    body: Any,
    steps: list[JobSpec],
    key: str | None,
    loc: list[str | int],
) -> JSONResponse:
    """Create one job or a chain in one transaction, honouring an Idempotency-Key, then dispatch. 201, or 200 when
    every step reused an identical succeeded job (nothing was created)."""
    check_limits(steps, loc=loc, settings=get_settings())  # before any SQL: work over a maximum costs nothing
    body_hash = idempotency.request_hash(jsonable_encoder(body))
    route = idempotency.scoped(route, project_id=principal.project_id)
    if key and (stored := idempotency.replay(session, key=key, route=route, body_hash=body_hash)):
        return _response(stored.status_code, stored.response)
    jobs, runnable, reused = create_jobs(session, steps=steps, loc=loc, principal=principal)
    outs = [jsonable_encoder(_view(job, reused=job.id in reused)) for job in jobs]
    content = outs[0] if len(loc) == 1 else {"jobs": outs}
    status_code = 200 if len(reused) == len(steps) else 201
    if key:
        idempotency.remember(
            session, key=key, route=route, body_hash=body_hash, status_code=status_code, response=content
        )
    try:
        session.commit()
    except IntegrityError:  # a concurrent request with the same key won the insert: replay its answer
        session.rollback()
        stored = idempotency.replay(session, key=key or "", route=route, body_hash=body_hash)
        if stored is None:
            raise
        return _response(stored.status_code, stored.response)
    dispatch(runnable)
    return _response(status_code, content)


def _view(job: Job, *, reused: bool) -> JobOut:
    view = job_out(job)
    return view.model_copy(update={"reused": True, "reused_from": job.id}) if reused else view


def _response(status_code: int, content: Any) -> JSONResponse:
    location = content["id"] if "id" in content else content["jobs"][0]["id"]
    return JSONResponse(content, status_code=status_code, headers={"Location": f"/v1/jobs/{location}"})


REUSED = {200: {"description": "An identical succeeded job (`reuse: if_identical`), `reused: true`; none created"}}


@router.post("/jobs", status_code=201, response_model=JobOut, responses={**REUSED, **CONFLICT, **WITH_BODY})
def create_job(
    spec: JobSpec, session: SessionDep, principal: PrincipalDep, idempotency_key: IdempotencyKeyHeader = None
) -> JSONResponse:
    """Submit one training or finetune job."""
    return _create(session, principal, route="jobs", body=spec, steps=[spec], key=idempotency_key, loc=["body"])


@router.post("/chains", status_code=201, response_model=ChainOut, responses={**REUSED, **CONFLICT, **WITH_BODY})
def create_chain(
    chain: ChainIn, session: SessionDep, principal: PrincipalDep, idempotency_key: IdempotencyKeyHeader = None
) -> JSONResponse:
    """Submit jobs where later steps start from earlier ones (`init_from: {"step": i}`): all or none."""
    steps, loc = chain.steps, ["body", "steps"]
    return _create(session, principal, route="chains", body=chain, steps=steps, key=idempotency_key, loc=loc)


@router.get("/jobs", response_model=JobPage)
async def list_jobs(
    principal: PrincipalDep,
    status: JobStatus | None = None,
    kind: Annotated[str | None, Query(pattern="^(train|finetune|recommend|evaluate)$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    parent_id: Annotated[str | None, Query(max_length=64, pattern=PRINTABLE, description="Only its children")] = None,
) -> Response:
    """Jobs, newest first; pass next_cursor back as cursor for the next page."""
    # The query and the encoding share one thread hop, and the page is encoded once, not re-validated through the
    # response model (bench/polling.py: jobs_list).
    project = principal.project_filter
    page = await read_in_thread(
        _job_page, project=project, status=status, kind=kind, limit=limit, cursor=cursor, parent_id=parent_id
    )
    return Response(page, media_type="application/json")


def _job_page(
    session: Session,
    *,
    project: str | None,
    status: JobStatus | None,
    kind: str | None,
    limit: int,
    cursor: str | None,
    parent_id: str | None,
) -> bytes:
    jobs, next_cursor = service.list_jobs(
        session, project=project, status=status, kind=kind, limit=limit, cursor=cursor, parent_id=parent_id
    )
    return JobPage(jobs=[job_out(job) for job in jobs], next_cursor=next_cursor).model_dump_json().encode()


@router.get("/jobs/{job_id}", response_model=JobOut, responses={**CACHED, **JOB_NOT_FOUND})
async def get_job(job_id: VisibleJobId, if_none_match: Annotated[str | None, Header()] = None) -> Response:
    """One job: status, progress, error and latest metrics; an unchanged poll with If-None-Match answers 304."""
    found = await job_views.get(job_id)  # from memory while the job is known unchanged (app/jobs/views.py)
    return etag_json(found, if_none_match=if_none_match, missing=f"no job {job_id!r}")


@router.post("/jobs/{job_id}/cancel", status_code=202, response_model=JobOut, responses={**JOB_NOT_FOUND, **CONFLICT})
def cancel_job(job: JobDep, session: SessionDep) -> JobOut:
    """Cancel: at once if not started, within one batch if running; again is a no-op; 409 once succeeded or failed."""
    runnable = service.request_cancel(session, job_id=job.id)
    session.commit()
    dispatch(runnable)
    return job_out(session.get(Job, job.id, populate_existing=True))
