"""SQL tables of the jobs domain: jobs and the idempotency keys of the POSTs that create them."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime, utcnow
from app.jobs.priority import Priority
from app.jobs.status import JobStatus


class Job(Base):
    """One training or finetune job; the database row is the source of truth for its state."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id"), index=True)
    # The uploaded dataset it trains on (app/datasets/); no foreign key: a finished job outlives its dataset.
    dataset_id: Mapped[str | None] = mapped_column(String(32), index=True)
    priority: Mapped[int] = mapped_column(Integer, default=Priority.normal, server_default=str(int(Priority.normal)))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    lost_attempts: Mapped[int] = mapped_column(Integer, default=0)  # crashed or silent; not graceful stops
    owner: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    epochs_done: Mapped[int] = mapped_column(Integer, default=0)
    # Rows in `metrics` for this job, kept by record_epoch in the same transaction: a curve's revision.
    metric_rows: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    max_epochs: Mapped[int] = mapped_column(Integer)
    error_type: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    latest_metrics: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    # What the worker found at the start that the user should know (leakage along a chain); None: not checked.
    warnings: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # A control run and the finetune it is the control of, linked both ways; no foreign keys, as for dataset_id.
    control_id: Mapped[str | None] = mapped_column(String(32))
    control_of: Mapped[str | None] = mapped_column(String(32), index=True)
    # What a job that computes rather than trains answers with (a recommendation's ranking, an evaluation's metrics).
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The status and epochs webhooks were last told of (app/webhooks/outbox.py), so each event goes out once.
    announced_status: Mapped[str | None] = mapped_column(String(16))
    announced_epochs: Mapped[int | None] = mapped_column(Integer)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), server_default="default")
    # What decides its weights, hashed (app/jobs/fingerprint.py); None: its data has no fixed identity, never reused.
    spec_fingerprint: Mapped[str | None] = mapped_column(String(64))
    # The expected duration it was created with (app/estimates/service.py), as POST /v1/estimates answers.
    estimate: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    # Both serve newest-first pages as index ranges (bench/store_scale.py): the second also filters by status.
    __table_args__ = (
        Index("ix_jobs_created", "created_at", "id"),
        Index("ix_jobs_status_created", "status", "created_at", "id"),
        Index("ix_jobs_claim", "status", "priority", "created_at", "id"),  # the next job a worker claims
        Index("ix_jobs_project_created", "project_id", "created_at", "id"),
        Index("ix_jobs_project_status", "project_id", "status"),  # quotas count a project's queued and running
        Index("ix_jobs_project_fingerprint", "project_id", "spec_fingerprint"),  # reuse: an identical job
    )


def new_job(
    spec: dict[str, Any], *, parent_id: str | None, dataset_id: str | None, project_id: str, ready: bool
) -> Job:
    """A job row for a normalised spec: queued when it can run now, else waiting (for its parent or dataset)."""
    return Job(
        id=uuid.uuid4().hex,
        kind=spec["kind"],
        status=JobStatus.QUEUED if ready else JobStatus.WAITING,
        spec=spec,
        parent_id=parent_id,
        dataset_id=dataset_id,
        project_id=project_id,
        priority=Priority[spec.get("priority", "normal")],
        created_at=utcnow(),
        attempt=0,
        lost_attempts=0,
        epochs_done=0,
        max_epochs=spec["trainer"]["max_epochs"] if "trainer" in spec else 1,  # a job that computes: one step
        latest_metrics={},
    )


class IdempotencyKey(Base):
    """The first response to a POST that carried an Idempotency-Key, replayed for repeats."""

    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    route: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
