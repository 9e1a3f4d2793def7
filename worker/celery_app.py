"""The Celery app: one `training` queue, one job at a time per worker, acknowledged only when done.

Imported by the API to send messages, so it must stay light: no torch, no Flash here.
"""

from celery import Celery

from app.core.config import get_settings

TRAINING_QUEUE = "training"
RUN_JOB_TASK = "flashjobs.run_job"

celery_app = Celery("flashjobs", broker=get_settings().effective_redis_url, include=["worker.tasks"])
celery_app.conf.update(
    task_default_queue=TRAINING_QUEUE,
    task_ignore_result=True,  # SQL is the record of every outcome; no result backend to keep in sync
    task_acks_late=True,  # a worker that dies mid-job leaves the message to be delivered again
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,  # one GPU, one job: never hold a second message another worker could run
    worker_concurrency=1,
    broker_connection_retry_on_startup=True,
    # A training job runs for hours; Redis redelivers an unacked message after this, and the claim makes
    # a redelivery harmless, so it only needs to exceed the time a message waits in a worker's hands.
    broker_transport_options={"visibility_timeout": 12 * 3600},
    worker_hijack_root_logger=False,
)
