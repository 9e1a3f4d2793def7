"""Recording and reading metric curves. The trainer's writes are fenced by its attempt number."""

from collections import defaultdict

from sqlalchemy import select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.core.db import utcnow
from app.jobs.changes import mark_changed
from app.jobs.models import Job
from app.jobs.service import fence
from app.metrics.models import Metric

SPLITS = ("train", "val")


def split_series_name(series: str) -> tuple[str, str]:
    """'val_accuracy' -> ('val', 'accuracy')."""
    split, _, name = series.partition("_")
    if split not in SPLITS or not name:
        raise ValueError(f"metric {series!r} is not named {{split}}_{{metric}} with split in {SPLITS}")
    return split, name


def record_epoch(session: Session, *, job_id: str, attempt: int, epoch: int, values: dict[str, float]) -> bool:
    """Upsert one epoch's values (all splits at once); False if this attempt no longer owns the job."""
    if not fence(session, job_id=job_id, attempt=attempt):
        return False
    now = utcnow()
    rows = [
        {
            "job_id": job_id,
            "epoch": epoch,
            "split": split,
            "name": name,
            "value": float(value),
            "attempt": attempt,
            "recorded_at": now,
        }
        for split, name, value in ((*split_series_name(series), value) for series, value in values.items())
    ]
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(Metric).values(rows)
    # A resumed attempt re-reports epochs from its checkpoint (identical values): a recorded value never changes.
    stmt = stmt.on_conflict_do_nothing(index_elements=["job_id", "epoch", "split", "name"])
    # RETURNING lists the rows actually inserted (rowcount is -1 for this statement under psycopg).
    inserted = {
        f"{split}_{name}": value
        for split, name, value in session.execute(stmt.returning(Metric.split, Metric.name, Metric.value))
    }
    if not inserted:
        return True  # all of it was recorded before: nothing changes, not even latest_metrics
    job = session.get(Job, job_id, populate_existing=True)
    assert job is not None
    changes: dict = {"metric_rows": Job.metric_rows + len(inserted)}
    if epoch + 1 >= job.epochs_done:  # latest_metrics holds the newest recorded value of each series
        changes.update(epochs_done=epoch + 1, latest_metrics={**job.latest_metrics, **inserted})
    session.execute(update(Job).where(Job.id == job_id).values(**changes))
    mark_changed(session, job_id)  # its curve and its view moved: cached copies must be read again
    return True


def get_series(
    session: Session, *, job_id: str, names: set[str] | None = None, since_epoch: int | None = None
) -> dict[str, list[dict[str, float | int]]]:
    """Curves keyed '{split}_{metric}', each a list of {epoch, value} in epoch order."""
    query = select(Metric.epoch, Metric.split, Metric.name, Metric.value).where(Metric.job_id == job_id)
    if since_epoch is not None:
        query = query.where(Metric.epoch >= since_epoch)
    if names is not None:
        wanted = [pair for pair in (series.partition("_")[::2] for series in names) if all(pair)]
        query = query.where(tuple_(Metric.split, Metric.name).in_(wanted))
    series: dict[str, list[dict[str, float | int]]] = defaultdict(list)
    for epoch, split, name, value in session.execute(query.order_by(Metric.epoch)):
        series[f"{split}_{name}"].append({"epoch": epoch, "value": value})
    return dict(series)


def epochs_after(session: Session, *, job_id: str, after_epoch: int) -> list[tuple[int, dict[str, float]]]:
    """Whole epochs recorded after `after_epoch`, each as (epoch, {series: value})."""
    query = (
        select(Metric.epoch, Metric.split, Metric.name, Metric.value)
        .where(Metric.job_id == job_id, Metric.epoch > after_epoch)
        .order_by(Metric.epoch)
    )
    epochs: dict[int, dict[str, float]] = defaultdict(dict)
    for epoch, split, name, value in session.execute(query):
        epochs[epoch][f"{split}_{name}"] = value
    return sorted(epochs.items())
