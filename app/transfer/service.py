"""Transfer gain: a finetune's validation curves against its control run's, read from the metric rows."""

from collections.abc import Callable

from sqlalchemy.orm import Session

from app.core.errors import NotFound
from app.jobs.models import Job
from app.jobs.schemas import JobError
from app.metrics.service import epochs_after
from app.transfer.schemas import COMPARED, Compute, EpochComparison, RecommendationOut, Side, TransferOut


def transfer_report(session: Session, *, job_id: str) -> TransferOut:
    """The comparison for a finetune or for its control run (either id names the pair)."""
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"no job {job_id!r}")
    finetune = session.get(Job, job.control_of) if job.control_of else job
    control = session.get(Job, finetune.control_id) if finetune is not None and finetune.control_id else None
    if finetune is None or control is None:
        raise NotFound(f'job {job_id} has no control run: submit a finetune with "control": {{"kind": ...}}')
    ours = dict(epochs_after(session, job_id=finetune.id, after_epoch=-1))
    theirs = dict(epochs_after(session, job_id=control.id, after_epoch=-1))
    epochs = [
        EpochComparison(
            epoch=epoch,
            finetune=_compared(ours.get(epoch, {})),
            control=_compared(theirs.get(epoch, {})),
            gain={
                name: ours[epoch][name] - theirs[epoch][name]
                for name in COMPARED
                if name in ours.get(epoch, {}) and name in theirs.get(epoch, {})
            },
        )
        for epoch in sorted(ours.keys() | theirs.keys())
    ]
    control_side = _side(control, theirs)
    target = control_side.best_val_accuracy
    reached = {"finetune": _first_reaching(ours, target), "control": _first_reaching(theirs, target)}
    saved = reached["control"] - reached["finetune"] if None not in reached.values() else None
    both = [e for e in epochs if e.gain]
    return TransferOut(
        job_id=finetune.id,
        control_id=control.id,
        control_kind=finetune.spec["control"]["kind"],
        finetune=_side(finetune, ours),
        control=control_side,
        epochs=epochs,
        control_best_reached_at=reached,
        epochs_saved=saved,
        final_gain=both[-1].gain if both else {},
    )


def _compared(values: dict[str, float]) -> dict[str, float]:
    return {name: values[name] for name in COMPARED if name in values}


def _side(job: Job, epochs: dict[int, dict[str, float]]) -> Side:
    accuracies = {epoch: values["val_accuracy"] for epoch, values in epochs.items() if "val_accuracy" in values}
    best_epoch = max(accuracies, key=lambda e: (accuracies[e], -e)) if accuracies else None
    # Images per second times the epoch's seconds is the count of images the epoch trained on.
    images = sum(v.get("train_images_per_second", 0.0) * v.get("train_epoch_seconds", 0.0) for v in epochs.values())
    return Side(
        job_id=job.id,
        status=job.status,
        best_val_accuracy=accuracies[best_epoch] if best_epoch is not None else None,
        best_epoch=best_epoch,
        compute=Compute(
            epochs=len(epochs),
            image_epochs=round(images),
            seconds=round(sum(v.get("train_epoch_seconds", 0.0) for v in epochs.values()), 3),
        ),
    )


def _first_reaching(epochs: dict[int, dict[str, float]], target: float | None) -> int | None:
    if target is None:
        return None
    return next((e for e in sorted(epochs) if epochs[e].get("val_accuracy", float("-inf")) >= target), None)


def recommendation_out(job: Job) -> RecommendationOut:
    """A recommendation job as the API shows it."""
    result = job.result or {}
    return RecommendationOut(
        id=job.id,
        status=job.status,
        dataset_id=job.spec["dataset"]["id"],
        job_ids=job.spec["job_ids"],
        sample_size=job.spec["sample_size"],
        created_at=job.created_at,
        finished_at=job.finished_at,
        error=JobError(type=job.error_type, message=job.error_message or "") if job.error_type else None,
        ranking=result.get("ranking"),
        sampled=result.get("sampled"),
    )


def get_recommendation(session: Session, *, recommendation_id: str, sees: Callable[[str], bool]) -> RecommendationOut:
    job = session.get(Job, recommendation_id)
    if job is None or job.kind != "recommend" or not sees(job.project_id):  # another project's: as absent
        raise NotFound(f"no recommendation {recommendation_id!r}")
    return recommendation_out(job)
