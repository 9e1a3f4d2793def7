"""How a training attempt reports: epochs to SQL (the record, fenced by attempt) then Redis (the live channel)."""

import logging
import time
from collections.abc import Callable

import redis
from sqlalchemy.exc import OperationalError

from app.core.db import session_scope
from app.metrics import live
from app.metrics.service import record_epoch

log = logging.getLogger(__name__)
SQL_RETRY_S = 120.0  # ride out a database restart rather than lose an epoch


class StaleAttempt(Exception):
    """A newer attempt owns the job (or it ended): this one must stop writing."""


class JobReporter:
    """The training recipe's Reporter for one attempt of one job."""

    def __init__(self, *, job_id: str, attempt: int, redis_client: redis.Redis, stop_requested: Callable[[], bool]):
        self.job_id, self.attempt, self.redis, self._stop_requested = job_id, attempt, redis_client, stop_requested

    def epoch_end(self, epoch: int, values: dict[str, float]) -> None:
        deadline = time.monotonic() + SQL_RETRY_S
        while True:
            try:
                with session_scope() as session:
                    owned = record_epoch(session, job_id=self.job_id, attempt=self.attempt, epoch=epoch, values=values)
                break
            except OperationalError:
                if time.monotonic() > deadline:
                    raise
                log.warning("database unavailable while recording epoch %s; retrying", epoch)
                time.sleep(2)
        if not owned:
            raise StaleAttempt(f"attempt {self.attempt} of job {self.job_id} no longer owns it")
        self._publish("epoch", {"epoch": epoch, "metrics": values})

    def progress(
        self, *, epoch: int, batch: int, num_batches: int, images_per_second: float, eta_seconds: float
    ) -> None:
        self._publish(
            "progress",
            {
                "epoch": epoch,
                "batch": batch,
                "num_batches": num_batches,
                "images_per_second": images_per_second,
                "eta_seconds": eta_seconds,
            },
        )

    def should_stop(self) -> bool:
        return self._stop_requested()

    def _publish(self, event: str, payload: dict) -> None:
        try:
            live.publish(self.redis, job_id=self.job_id, event=event, payload=payload)
        except redis.RedisError as exc:  # the live channel is best effort: readers fall back to SQL
            log.warning("could not publish %s event for job %s: %s", event, self.job_id, exc)
