"""Projects and keys in SQL: create, list, revoke, look up by hash, note use."""

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.access.keys import hash_secret, new_secret
from app.access.models import DEFAULT_PROJECT, ApiKey, Project
from app.access.schemas import KeyOut, ProjectOut, Quotas
from app.access.scopes import Scope
from app.core.db import utcnow
from app.core.errors import Conflict, Invalid, NotFound


def create_project(session: Session, *, name: str, quotas: Quotas) -> Project:
    """A new project; 409 if the name is taken."""
    project = Project(id=name, created_at=utcnow(), **quotas.model_dump())
    session.add(project)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"project {name!r} exists") from exc
    return project


def ensure_default_project(session: Session) -> Project:
    """The default project (migration 0004 makes it; a database made otherwise gets it here)."""
    return session.get(Project, DEFAULT_PROJECT) or create_project(session, name=DEFAULT_PROJECT, quotas=Quotas())


def list_projects(session: Session) -> list[Project]:
    return list(session.scalars(select(Project).order_by(Project.id)))


def get_project(session: Session, *, name: str) -> Project:
    project = session.get(Project, name)
    if project is None:
        raise NotFound(f"no project {name!r}")
    return project


def set_quotas(session: Session, *, name: str, quotas: Quotas) -> Project:
    """Set the quotas the request names (the others keep their values)."""
    project = get_project(session, name=name)
    for field, value in quotas.model_dump(exclude_unset=True).items():
        setattr(project, field, value)
    return project


def create_key(session: Session, *, project: str, scope: Scope, name: str | None) -> tuple[ApiKey, str]:
    """A new key of `project` and the secret itself, which is not stored and cannot be shown again."""
    if session.get(Project, project) is None:
        raise Invalid(["body", "project"], f"no project {project!r} (flashjobs projects create {project})")
    secret = new_secret()
    key = ApiKey(
        id=uuid.uuid4().hex,
        key_hash=hash_secret(secret),
        name=name,
        project_id=project,
        scope=scope,
        created_at=utcnow(),
    )
    session.add(key)
    session.flush()
    return key, secret


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)))


def revoke_key(session: Session, *, key_id: str) -> ApiKey:
    """Revoke once; again changes nothing."""
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"no key {key_id!r}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


def find_live_key(session: Session, *, key_hash: str) -> ApiKey | None:
    """The key with this hash unless it is revoked."""
    return session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None)))


def note_use(session: Session, *, key_id: str, at: datetime) -> None:
    session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=at))


def key_out(key: ApiKey) -> KeyOut:
    return KeyOut(
        id=key.id,
        name=key.name,
        project=key.project_id,
        scope=Scope(key.scope),
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )


def project_out(project: Project) -> ProjectOut:
    return ProjectOut(
        name=project.id,
        created_at=project.created_at,
        max_running=project.max_running,
        max_queued=project.max_queued,
        max_dataset_bytes=project.max_dataset_bytes,
    )
