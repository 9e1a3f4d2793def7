"""What SQL records, read once per scrape: every API process and host then reports the same jobs."""

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.jobs.models import Job
from app.jobs.status import FINAL, JobStatus
from app.metrics.models import Metric
from app.webhooks.events import DeliveryStatus
from app.webhooks.models import Delivery

# Series the metrics callback records once per epoch (worker/training/metrics.py), split "train".
EPOCH_SERIES = ("epoch_seconds", "images_per_second")
MAX_EPOCH_ROWS = 100_000  # per scrape; the rest is read by the next one


@dataclass(frozen=True)
class StoreReading:
    jobs: dict[tuple[str, str], int]  # (project, status) -> jobs
    outcomes: dict[tuple[str, str], int]  # (final status, error type or "") -> jobs
    started: int  # jobs that ever started an attempt
    restarts: int  # attempts after each job's first
    deliveries: dict[str, int]  # webhook delivery status -> deliveries
    epochs: list[tuple[int, str, float]]  # (metric row id, series, value) recorded after the watermark
    watermark: int  # the highest metric row id read


def read_store(session: Session, *, after_metric_id: int | None) -> StoreReading:
    """Counts of jobs by status and outcome, and the epochs recorded after `after_metric_id` (None: none yet)."""
    by_project = select(Job.project_id, Job.status, func.count()).group_by(Job.project_id, Job.status)
    jobs = {(project, status): n for project, status, n in session.execute(by_project)}
    projects = {project for project, _ in jobs} or {"default"}
    outcomes = {
        (status, error_type or ""): n
        for status, error_type, n in session.execute(
            select(Job.status, Job.error_type, func.count())
            .where(Job.status.in_(FINAL))
            .group_by(Job.status, Job.error_type)
        )
    }
    started, restarts = session.execute(
        select(func.count(), func.coalesce(func.sum(Job.attempt - 1), 0)).where(Job.attempt > 0)
    ).one()
    deliveries = dict(session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all())
    epochs: list[tuple[int, str, float]] = []
    if after_metric_id is None:  # the first scrape of this process: count from here on
        watermark = session.scalar(select(func.coalesce(func.max(Metric.id), 0)))
    else:
        epochs = [
            (row_id, name, value)
            for row_id, name, value in session.execute(
                select(Metric.id, Metric.name, Metric.value)
                .where(Metric.id > after_metric_id, Metric.split == "train", Metric.name.in_(EPOCH_SERIES))
                .order_by(Metric.id)
                .limit(MAX_EPOCH_ROWS)
            )
        ]
        watermark = epochs[-1][0] if epochs else after_metric_id
    return StoreReading(
        jobs={(p, s.value): jobs.get((p, s.value), 0) for p in sorted(projects) for s in JobStatus},
        outcomes=outcomes,
        started=started,
        restarts=restarts,
        deliveries={s.value: deliveries.get(s.value, 0) for s in DeliveryStatus},
        epochs=epochs,
        watermark=watermark,
    )
