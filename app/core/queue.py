"""The Celery producer: queue and task names, and the app that sends, built on first use like the engine.

The API sends through it; worker/celery_app.py configures the consuming side of the same app. Only Celery
and the settings here: no torch, no Flash, and nothing from worker/.
"""

from functools import lru_cache

from celery import Celery

from app.core.config import get_settings

TRAINING_QUEUE = "training"
RUN_JOB_TASK = "flashjobs.run_job"


@lru_cache
def get_celery() -> Celery:
    """The Celery app, connected to the settings' Redis; built on the first call, not at import."""
    celery = Celery("flashjobs", broker=get_settings().effective_redis_url)
    celery.conf.update(
        task_default_queue=TRAINING_QUEUE,
        task_ignore_result=True,  # SQL is the record of every outcome; no result backend to keep in sync
        broker_connection_retry_on_startup=True,
        # A training job runs for hours; Redis redelivers an unacked message after this, and the claim makes
        # a redelivery harmless, so it only needs to exceed the time a message waits in a worker's hands.
        broker_transport_options={"visibility_timeout": 12 * 3600},
    )
    return celery


def send_run_job(job_id: str) -> None:
    """One message carrying only the job's id; raises if the broker cannot take it."""
    # retry=False: a broker that is down must not hang the request; the reconciler re-sends.
    get_celery().send_task(RUN_JOB_TASK, args=[job_id], queue=TRAINING_QUEUE, retry=False)
