"""Job-changed notices: after a commit that changed a job's status or its curve, the job's id goes out on Redis.

API processes keep metric curves and job views in memory (app/metrics/polling.py, app/jobs/views.py) and re-read
a running job's only when a notice says that it changed, or when their copy is older than a fallback age (a notice
lost to a crash between commit and publish, or to Redis; app/jobs/freshness.py). The job and metric services mark
what they change with `mark_changed`; one after_commit hook publishes, so that no caller can forget to, and one
before_commit hook queues the webhook events of those changes (app/webhooks/outbox.py) in the same transaction.
"""

import logging
import time
from collections.abc import Callable, Iterable
from functools import lru_cache

import redis
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.core.config import get_settings
from app.webhooks.outbox import announce_job_changes

log = logging.getLogger(__name__)

CHANNEL = "flashjobs:jobs-changed"
_PENDING = "flashjobs_changed_job_ids"  # key in Session.info
# After a failed publish, skip Redis for this long: commits must not each wait out a connect timeout while Redis
# is away, and readers fall back to their age limit meanwhile.
PAUSE_AFTER_FAILURE_S = 5.0

Listener = Callable[[Iterable[str]], None]
_local_listeners: list[Listener] = []
_paused_until = 0.0


def mark_changed(session: Session, job_id: str) -> None:
    """Note that this transaction changes the job's status or curve: a notice goes out if and when it commits."""
    session.info.setdefault(_PENDING, set()).add(job_id)


def listen_in_process(listener: Listener) -> Callable[[], None]:
    """Tell `listener` of this process's own commits as they happen (a reader then sees its process's writes at
    once, not a Redis round trip later). Returns the function that stops it. Listeners must be thread-safe."""
    _local_listeners.append(listener)
    return lambda: _local_listeners.remove(listener)


def parse(message: bytes | str) -> list[str]:
    """The job ids of one notice."""
    return (message.decode() if isinstance(message, bytes) else message).split()


@event.listens_for(Session, "before_commit")
def _queue_webhook_events(session: Session) -> None:
    job_ids = session.info.get(_PENDING)
    if job_ids:  # in the same transaction as the change: an event is kept exactly when the change is
        announce_job_changes(session, job_ids=job_ids)


@event.listens_for(Session, "after_commit")
def _announce_committed(session: Session) -> None:
    job_ids = session.info.pop(_PENDING, None)
    if not job_ids:
        return
    for listener in list(_local_listeners):
        listener(job_ids)
    _publish(job_ids)


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)


def _publish(job_ids: Iterable[str]) -> None:
    global _paused_until
    if time.monotonic() < _paused_until:
        return
    try:
        _publisher(get_settings().effective_redis_url).publish(CHANNEL, " ".join(sorted(job_ids)))
    except redis.RedisError as error:  # best effort: the commit stands, readers re-check on age
        _paused_until = time.monotonic() + PAUSE_AFTER_FAILURE_S
        log.warning(
            "could not publish job-changed notice (pausing notices for %.0f s): %s", PAUSE_AFTER_FAILURE_S, error
        )


@lru_cache
def _publisher(url: str) -> redis.Redis:
    # Short timeouts: this runs on the writer's path, after its commit.
    return redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
