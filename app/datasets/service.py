"""Dataset lifecycle in SQL: add an upload or an import, read, list, finish an import, delete.

Routes and the reconciler call these; the caller moves files around the commit (app/datasets/store.py).
"""

import hashlib
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, aliased

from app.core.db import utcnow
from app.core.errors import Conflict, NotFound
from app.core.pages import newest_first
from app.datasets.models import Dataset
from app.datasets.status import PENDING, DatasetStatus
from app.datasets.usage import jobs_using
from app.jobs import service as jobs
from app.jobs.models import Job
from app.jobs.status import JobStatus
from app.webhooks.events import EventType
from app.webhooks.outbox import emit


def new_dataset_id() -> str:
    return uuid.uuid4().hex


def dedupe_key(*, project_id: str, sha256: str) -> str:
    """What makes an upload unique: its bytes within its project (migration 0004 computes the same)."""
    return hashlib.sha256(f"{project_id}:{sha256}".encode()).hexdigest()


def find_upload(session: Session, *, project_id: str, sha256: str) -> Dataset | None:
    """The dataset an upload of these exact bytes to this project made, if any."""
    return session.scalar(select(Dataset).where(Dataset.dedupe_key == dedupe_key(project_id=project_id, sha256=sha256)))


def add_upload(
    session: Session,
    *,
    project_id: str,
    dataset_id: str,
    name: str | None,
    sha256: str,
    size: int,
    status: DatasetStatus,
    summary: dict[str, Any],
) -> Dataset:
    """Record a validated upload; the unique dedupe key makes a concurrent twin's commit fail."""
    now = utcnow()
    dataset = Dataset(
        id=dataset_id,
        project_id=project_id,
        name=name,
        status=status,
        sha256=sha256,
        dedupe_key=dedupe_key(project_id=project_id, sha256=sha256),
        bytes=size,
        created_at=now,
        finished_at=now,
        summary=summary,
    )
    session.add(dataset)
    _announce_settled(session, dataset=dataset)
    return dataset


def add_import(session: Session, *, project_id: str, name: str | None, url: str) -> Dataset:
    """A dataset the server downloads: `importing` until fetched and validated."""
    now = utcnow()
    dataset = Dataset(
        id=new_dataset_id(),
        project_id=project_id,
        name=name,
        status=DatasetStatus.IMPORTING,
        source_url=url,
        created_at=now,
        heartbeat_at=now,
        summary={},
    )
    session.add(dataset)
    session.flush()
    return dataset


def import_heartbeat(session: Session, *, dataset_id: str, status: DatasetStatus) -> bool:
    """Note that an import lives (and where it is); False once it was ended without it (reconciler, delete)."""
    done = session.execute(
        update(Dataset)
        .where(Dataset.id == dataset_id, Dataset.status.in_(list(PENDING)))
        .values(status=status, heartbeat_at=utcnow())
    )
    return done.rowcount == 1


def finish_import(
    session: Session,
    *,
    dataset_id: str,
    status: DatasetStatus,
    summary: dict[str, Any],
    sha256: str | None = None,
    size: int | None = None,
) -> list[str] | None:
    """End an import as ready or invalid, settling its waiting jobs: ids to dispatch; None if it had ended."""
    done = session.execute(
        update(Dataset)
        .where(Dataset.id == dataset_id, Dataset.status.in_(list(PENDING)))
        .values(status=status, summary=summary, sha256=sha256, bytes=size, finished_at=utcnow(), heartbeat_at=None)
    )
    if done.rowcount != 1:
        return None
    _announce_settled(session, dataset=session.get(Dataset, dataset_id, populate_existing=True))
    return settle_waiting_jobs(session, dataset_id=dataset_id)


def _announce_settled(session: Session, *, dataset: Dataset) -> None:
    event_type = EventType.DATASET_READY if dataset.status == DatasetStatus.READY else EventType.DATASET_INVALID
    data = {"dataset_id": dataset.id, "name": dataset.name, "status": str(dataset.status)}
    emit(session, event_type=event_type, data=data, project_id=dataset.project_id)


def settle_waiting_jobs(session: Session, *, dataset_id: str) -> list[str]:
    """Queue the jobs waiting for this ready dataset (once their parent succeeded), or fail them if it is invalid."""
    dataset = session.get(Dataset, dataset_id, populate_existing=True)
    if dataset is None or dataset.status in PENDING:
        return []
    waiting = select(Job.id).where(Job.dataset_id == dataset_id, Job.status == JobStatus.WAITING)
    if dataset.status == DatasetStatus.READY:
        parent = aliased(Job)
        unblocked = session.scalars(
            waiting.outerjoin(parent, Job.parent_id == parent.id).where(
                or_(Job.parent_id.is_(None), parent.status == JobStatus.SUCCEEDED)
            )
        ).all()
        return jobs.release_waiting(session, job_ids=list(unblocked))
    problems = (dataset.summary or {}).get("problem_count", 0)
    return jobs.fail_waiting(
        session,
        job_ids=list(session.scalars(waiting)),
        error=(
            "dataset_invalid",
            f"dataset {dataset_id} is invalid ({problems} problems: GET /v1/datasets/{dataset_id})",
        ),
    )


def expire_stalled_imports(session: Session, *, silent_since: datetime) -> list[str]:
    """Imports whose process went away (no heartbeat since `silent_since`) end as invalid; ids to dispatch."""
    stalled = session.scalars(
        select(Dataset.id).where(Dataset.status.in_(list(PENDING)), Dataset.heartbeat_at < silent_since)
    ).all()
    to_dispatch: list[str] = []
    for dataset_id in stalled:
        summary = {
            "problem_count": 1,
            "problems": [
                {
                    "path": "",
                    "reason": "the import stopped: the API process that ran it went away; import the URL again",
                }
            ],
        }
        to_dispatch += (
            finish_import(session, dataset_id=dataset_id, status=DatasetStatus.INVALID, summary=summary) or []
        )
    return to_dispatch


def find(session: Session, *, dataset_id: str) -> Dataset | None:
    return session.get(Dataset, dataset_id)


def list_datasets(
    session: Session, *, project: str | None, limit: int, cursor: str | None
) -> tuple[list[Dataset], str | None]:
    """Newest first, keyset-paginated on (created_at, id); one project's, or every project's (None)."""
    query = select(Dataset) if project is None else select(Dataset).where(Dataset.project_id == project)
    return newest_first(session, query, Dataset, limit=limit, cursor=cursor)


def delete(session: Session, *, dataset_id: str) -> None:
    """Remove the row (the caller removes the files after the commit); 409 while jobs need it or it imports."""
    dataset = session.scalar(select(Dataset).where(Dataset.id == dataset_id).with_for_update())
    if dataset is None:
        raise NotFound(f"no dataset {dataset_id!r}")
    if dataset.status in PENDING:
        raise Conflict(f"dataset {dataset_id} is {dataset.status}; delete it once it is ready or invalid")
    using = jobs_using(session, dataset_id=dataset_id)
    if using:
        raise Conflict(f"dataset {dataset_id} is used by {using} waiting, queued or running job(s)")
    session.delete(dataset)
