"""Events into the outbox: one delivery row per subscribed webhook, in the transaction that made the event.

Job events are derived, not called for: every transition and recorded epoch marks its job changed
(app/jobs/changes.py), and before that transaction commits `announce_job_changes` compares the job's status and
epochs with what was last announced, so that no code path can forget an event and none is announced twice.
"""

import uuid
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from app.core.db import utcnow
from app.jobs.models import Job
from app.webhooks.events import DeliveryStatus, EventType
from app.webhooks.models import Delivery, Webhook


def emit(
    session: Session,
    *,
    event_type: EventType,
    data: dict[str, Any],
    project_id: str,
    hooks: list[Webhook] | None = None,
) -> int:
    """Queue the event for every active webhook of its project subscribed to it (of `hooks`, if given)."""
    now = utcnow()
    payload = {"type": event_type.value, "timestamp": now.isoformat(), "data": data}
    if hooks is None:
        with session.no_autoflush:  # the change being announced is flushed by the commit, where its caller expects
            hooks = list(session.scalars(select(Webhook).where(Webhook.active, Webhook.project_id == project_id)))
    hooks = [hook for hook in hooks if event_type in hook.events and hook.project_id == project_id]
    for hook in hooks:
        session.add(
            Delivery(
                id=f"msg_{uuid.uuid4().hex}",
                webhook_id=hook.id,
                event_type=event_type.value,
                payload=payload,
                status=DeliveryStatus.PENDING,
                attempts=0,
                created_at=now,
                next_attempt_at=now,
                log=[],
            )
        )
    return len(hooks)


def announce_new_jobs(session: Session, *, jobs: list[Job]) -> None:
    """job.status_changed for jobs just created (waiting or queued), and what each was announced as."""
    with session.no_autoflush:
        hooks = list(session.scalars(select(Webhook).where(Webhook.active)))
    for job in jobs:
        job.announced_status, job.announced_epochs = job.status, 0
        data = {"job_id": job.id, "kind": job.kind, "status": job.status, "error": None}
        emit(session, event_type=EventType.JOB_STATUS_CHANGED, data=data, project_id=job.project_id, hooks=hooks)


def announce_job_changes(session: Session, *, job_ids: set[str]) -> None:
    """Emit job.status_changed and job.epoch_recorded for the changed jobs whose state moved since announced."""
    if not session.scalar(select(exists().where(Webhook.active))):
        return  # nothing listens: no reads, no writes
    columns = (Job.id, Job.project_id, Job.kind, Job.status, Job.epochs_done, Job.announced_status)
    rows = session.execute(
        select(*columns, Job.announced_epochs, Job.error_type, Job.error_message, Job.latest_metrics).where(
            Job.id.in_(job_ids)
        )
    )
    for job_id, project, kind, status, epochs, announced_status, announced_epochs, error_type, message, latest in rows:
        if epochs > (announced_epochs or 0):
            data = {"job_id": job_id, "kind": kind, "epoch": epochs - 1, "metrics": latest}
            emit(session, event_type=EventType.JOB_EPOCH_RECORDED, data=data, project_id=project)
        if status != announced_status:
            error = {"type": error_type, "message": message} if error_type else None
            data = {"job_id": job_id, "kind": kind, "status": status, "error": error}
            emit(session, event_type=EventType.JOB_STATUS_CHANGED, data=data, project_id=project)
        if epochs != announced_epochs or status != announced_status:
            session.execute(
                update(Job).where(Job.id == job_id).values(announced_status=status, announced_epochs=epochs)
            )
