"""Keys and projects, for admin keys (main.py includes this router with ADMIN_ONLY)."""

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from app.access import service
from app.access.principal import verified_keys
from app.access.schemas import (
    PROJECT_NAME,
    KeyCreated,
    KeyIn,
    KeyOut,
    KeyPage,
    ProjectIn,
    ProjectOut,
    ProjectPage,
    Quotas,
)
from app.api.deps import SessionDep
from app.api.openapi import KEY_NOT_FOUND, PROJECT_CONFLICT, PROJECT_NOT_FOUND, WITH_BODY

router = APIRouter(prefix="/v1", tags=["access"])
KeyId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
ProjectId = Annotated[str, Path(pattern=PROJECT_NAME)]


@router.post("/keys", status_code=201, response_model=KeyCreated, responses=WITH_BODY)
def create_key(body: KeyIn, session: SessionDep) -> KeyCreated:
    """A new key of a project: the answer's `key` is shown this once (only its hash is stored)."""
    key, secret = service.create_key(session, project=body.project, scope=body.scope, name=body.name)
    session.commit()
    return KeyCreated(**service.key_out(key).model_dump(), key=secret)


@router.get("/keys", response_model=KeyPage)
def list_keys(session: SessionDep) -> KeyPage:
    """Every key, revoked ones included, without their secrets."""
    return KeyPage(keys=[service.key_out(key) for key in service.list_keys(session)])


@router.post("/keys/{key_id}/revoke", response_model=KeyOut, responses=KEY_NOT_FOUND)
async def revoke_key(key_id: KeyId, session: SessionDep) -> KeyOut:
    """Revoke a key: this process refuses it at once, other API processes within FLASHJOBS_KEY_CACHE_S."""
    revoked = await run_in_threadpool(_revoke, session, key_id)
    verified_keys.forget()  # on the event loop, where the cache is used
    return revoked


def _revoke(session: Session, key_id: str) -> KeyOut:
    key = service.revoke_key(session, key_id=key_id)
    session.commit()
    return service.key_out(key)


@router.post("/projects", status_code=201, response_model=ProjectOut, responses={**PROJECT_CONFLICT, **WITH_BODY})
def create_project(body: ProjectIn, session: SessionDep) -> ProjectOut:
    """A new project, with quotas (null, the default: unlimited)."""
    project = service.create_project(session, name=body.name, quotas=Quotas(**body.model_dump(exclude={"name"})))
    session.commit()
    return service.project_out(project)


@router.get("/projects", response_model=ProjectPage)
def list_projects(session: SessionDep) -> ProjectPage:
    """Every project with its quotas."""
    return ProjectPage(projects=[service.project_out(project) for project in service.list_projects(session)])


@router.get("/projects/{project}", response_model=ProjectOut, responses=PROJECT_NOT_FOUND)
def get_project(project: ProjectId, session: SessionDep) -> ProjectOut:
    """One project with its quotas."""
    return service.project_out(service.get_project(session, name=project))


@router.patch("/projects/{project}", response_model=ProjectOut, responses={**PROJECT_NOT_FOUND, **WITH_BODY})
def set_quotas(project: ProjectId, quotas: Quotas, session: SessionDep) -> ProjectOut:
    """Set the quotas the body names (null: unlimited); the others keep their values."""
    updated = service.set_quotas(session, name=project, quotas=quotas)
    session.commit()
    return service.project_out(updated)
