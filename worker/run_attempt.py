"""One training attempt, run as its own process by the supervisor: `python -m worker.run_attempt JOB ATTEMPT`.

It writes metrics and artifacts fenced by its attempt number and leaves its outcome in outcome-<attempt>.json.
No outcome file means it did not finish (killed, crashed, or told to yield); the supervisor decides what next.
Signals: SIGUSR1 = the user cancelled; SIGUSR2 or SIGTERM = give the GPU back (checkpoint and stop).
"""

import json
import logging
import os
import signal
import sys
import time
import traceback
from pathlib import Path

import redis

from app.artifacts import service as artifacts
from app.core.config import get_settings
from app.core.db import session_scope
from app.jobs import service
from app.jobs.models import Job
from app.jobs.schemas import JobSpec
from app.jobs.status import JobStatus
from worker.reporting import JobReporter, StaleAttempt

log = logging.getLogger("flashjobs.attempt")
EXIT_YIELDED = 75  # stopped without an outcome: preempted, orphaned, or superseded by a newer attempt


class _StopFlags:
    """Set by signals, read by the training loop after every batch."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.parent_pid = os.getppid()

    def install(self) -> None:
        signal.signal(signal.SIGUSR1, lambda *_: self._set("cancelled"))
        signal.signal(signal.SIGUSR2, lambda *_: self._set("preempted"))
        signal.signal(signal.SIGTERM, lambda *_: self._set("preempted"))

    def _set(self, reason: str) -> None:
        self.reason = self.reason or reason

    def should_stop(self) -> bool:
        if self.reason is None and os.getppid() != self.parent_pid:
            self.reason = "orphaned"  # the supervisor died: checkpoint now, the reconciler re-queues the job
        return self.reason is not None


def outcome_path(work_dir: Path, attempt: int) -> Path:
    return work_dir / f"outcome-{attempt}.json"


def write_outcome(path: Path, status: JobStatus, error: tuple[str, str] | None = None) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"status": status, "error": list(error) if error else None}))
    os.replace(tmp, path)


def _parent_backbone(job: Job, artifact_dir: Path) -> Path | None:
    if job.parent_id is None:
        return None
    with session_scope() as session:
        backbone = artifacts.get(session, job_id=job.parent_id, name="backbone")
    if backbone is None:
        from worker.training.errors import TrainingError

        raise TrainingError("bad_parent", f"parent job {job.parent_id} has no backbone artifact")
    return artifact_dir / backbone.path


def _check_leakage(job: Job, attempt: int, settings) -> None:
    """Record which validation images the parent trained on (worker/training/leakage.py), once per job."""
    if job.parent_id is None or job.warnings is not None or _rank() != 0:
        return
    from worker.training.errors import TrainingError, in_user_terms
    from worker.training.leakage import check_chain

    with session_scope() as session:
        parent = session.get(Job, job.parent_id)
    assert parent is not None
    started = time.monotonic()
    try:
        warnings = check_chain(
            JobSpec.model_validate(job.spec),
            JobSpec.model_validate(parent.spec),
            data_dir=settings.data_dir,
            allow_downloads=settings.allow_downloads,
            artifact_dir=settings.effective_artifact_dir,
        )
    except TrainingError as exc:  # the parent's data is gone: the job can still run, unchecked
        message = in_user_terms(str(exc), data_dir=settings.data_dir, artifact_dir=settings.effective_artifact_dir)
        warnings = [{"type": "leakage_unchecked", "message": f"the parent's training images: {message}"}]
    log.info("leakage check of job %s took %.2f s", job.id, time.monotonic() - started)
    with session_scope() as session:
        service.record_warnings(session, job_id=job.id, attempt=attempt, warnings=warnings)


def _recommend(job: Job, attempt: int, settings) -> bool:
    """Rank the candidate backbones for the job's dataset (worker/transfer/recommend.py); False: the job was lost."""
    from app.jobs.schemas import DatasetSpec, ModelSpec
    from worker.training.errors import TrainingError
    from worker.transfer.recommend import Candidate, rank

    spec = job.spec
    candidates = []
    with session_scope() as session:
        for job_id in spec["job_ids"]:
            source = session.get(Job, job_id)
            backbone = artifacts.get(session, job_id=job_id, name="backbone")
            if source is None or backbone is None:
                raise TrainingError("bad_parent", f"job {job_id} has no backbone artifact")
            model = ModelSpec(**source.spec["model"])
            path = settings.effective_artifact_dir / backbone.path
            candidates.append(Candidate(job_id, path, model, source.spec["dataset"], source.kind))
    result = rank(
        dataset=DatasetSpec(**spec["dataset"]),
        candidates=candidates,
        sample_size=spec["sample_size"],
        seed=spec["seed"],
        include_random=spec["include_random"],
        data_dir=settings.data_dir,
        artifact_dir=settings.effective_artifact_dir,
    )
    with session_scope() as session:
        return service.record_result(session, job_id=job.id, attempt=attempt, result=result)


def _evaluate(job: Job, attempt: int, settings, reporter: JobReporter) -> JobStatus | None:
    """Run the evaluated job's model over the dataset (worker/evaluation/run.py); None: the job was lost."""
    from worker.evaluation.run import evaluate
    from worker.training.errors import TrainingError

    with session_scope() as session:
        model = artifacts.get(session, job_id=job.spec["job_id"], name="model")
        evaluated = session.get(Job, job.spec["job_id"])
    if model is None or evaluated is None:
        raise TrainingError("bad_parent", f"job {job.spec['job_id']} has no model artifact")
    artifact_dir = settings.effective_artifact_dir
    done = evaluate(
        spec=job.spec,
        model_path=artifact_dir / model.path,
        model_sha256=model.sha256,
        artifact_dir=artifact_dir,
        work_dir=artifact_dir / job.id,
        seed=(evaluated.spec.get("trainer") or {}).get("seed", 0),  # its holdout, where the dataset has no val/
        reporter=reporter,
        max_pixels=settings.dataset_max_image_pixels,
        progress_every_s=settings.progress_every_s,
    )
    if done is None:
        return JobStatus.CANCELLED
    with session_scope() as session:
        if not service.record_result(session, job_id=job.id, attempt=attempt, result=done.result):
            return None
        at = {"job_id": job.id, "attempt": attempt, "artifact_dir": artifact_dir}
        registered = artifacts.register(session, name="predictions", path=done.predictions, **at)
    return JobStatus.SUCCEEDED if registered else None


def _is_out_of_memory(exc: BaseException) -> bool:
    return type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower()


def _rank() -> int:
    return int(os.environ.get("LOCAL_RANK", os.environ.get("RANK", "0")))


def run(job_id: str, attempt: int) -> int:
    settings = get_settings()
    flags = _StopFlags()
    flags.install()
    artifact_dir = settings.effective_artifact_dir
    work_dir = artifact_dir / job_id
    with session_scope() as session:
        job = session.get(Job, job_id)
    assert job is not None, f"no job {job_id}"
    reporter = JobReporter(
        job_id=job_id,
        attempt=attempt,
        stop_requested=flags.should_stop,
        redis_client=redis.Redis.from_url(settings.effective_redis_url, socket_timeout=5),
    )
    try:
        from worker.training import recipe  # the heavy imports (torch, Flash) happen here, in the child only
        from worker.training.errors import TrainingError, in_user_terms

        try:
            if job.kind == "recommend":
                if not _recommend(job, attempt, settings):
                    return EXIT_YIELDED
                write_outcome(outcome_path(work_dir, attempt), JobStatus.SUCCEEDED)
                return 0
            if job.kind == "evaluate":
                status = _evaluate(job, attempt, settings, reporter)
                if status is None or (status == JobStatus.CANCELLED and flags.reason != "cancelled"):
                    return EXIT_YIELDED  # lost, preempted or orphaned: another attempt evaluates anew
                write_outcome(outcome_path(work_dir, attempt), status)
                return 0
            _check_leakage(job, attempt, settings)
            result = recipe.run(
                spec=JobSpec.model_validate(job.spec),
                job_id=job_id,
                work_dir=work_dir,
                data_dir=settings.data_dir,
                allow_downloads=settings.allow_downloads,
                parent_backbone=_parent_backbone(job, artifact_dir),
                reporter=reporter,
                progress_every_s=settings.progress_every_s,
                artifact_dir=artifact_dir,
            )
        except TrainingError as exc:
            if _rank() == 0:
                message = in_user_terms(str(exc), data_dir=settings.data_dir, artifact_dir=artifact_dir)
                write_outcome(outcome_path(work_dir, attempt), JobStatus.FAILED, (exc.type, message))
            return 0
    except StaleAttempt as exc:
        log.warning("%s", exc)
        return EXIT_YIELDED
    except Exception as exc:  # any failure becomes the job's error, with its cause
        traceback.print_exc()
        kind = "out_of_memory" if _is_out_of_memory(exc) else "training_error"
        if _rank() == 0:
            from worker.training.errors import in_user_terms

            message = in_user_terms(
                f"{type(exc).__name__}: {exc}", data_dir=settings.data_dir, artifact_dir=artifact_dir
            )
            write_outcome(outcome_path(work_dir, attempt), JobStatus.FAILED, (kind, message))
        return 0

    if _rank() != 0:
        return 0  # ranks > 0 of a multi-GPU run (Lightning re-runs this module for them): rank 0 reports
    if result.status == JobStatus.CANCELLED and flags.reason != "cancelled":
        return EXIT_YIELDED  # preempted or orphaned: the checkpoint is written, another attempt resumes
    with session_scope() as session:
        for name, path in result.artifacts.items():
            if not artifacts.register(
                session, job_id=job_id, attempt=attempt, name=name, path=path, artifact_dir=artifact_dir
            ):
                return EXIT_YIELDED
    write_outcome(outcome_path(work_dir, attempt), result.status)
    return 0


def exit_now(code: int) -> None:
    """Exit without the interpreter's teardown: everything that matters is on disk and in SQL by now.

    Tearing down torch, Lightning and the persistent DataLoader workers took ~2 s after the outcome was written,
    and the job only finishes when this process has exited. The supervisor kills what is left of the process
    group (the loader workers) once this process is gone.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: list[str]) -> int:
    """`JOB ATTEMPT`, or `--spare [--beside-training]`: import, then wait for the job on stdin (worker/spare.py)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if argv[:1] == ["--spare"]:
        from worker.spare import BESIDE_TRAINING, wait_for_assignment

        assignment = wait_for_assignment(beside_training=BESIDE_TRAINING in argv)
        if assignment is None:
            return 0  # the worker stopped before it had a job for this spare
        return run(*assignment)
    return run(argv[0], int(argv[1]))


if __name__ == "__main__":
    exit_now(main(sys.argv[1:]))
