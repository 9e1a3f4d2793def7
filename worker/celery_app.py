"""The consuming side of the queue: app/core/queue.py's Celery app, configured for a worker.

`celery -A worker.celery_app:celery_app` reads the attribute `celery_app`, which this module builds on that
first access (a module `__getattr__`), so importing it reads no settings.
"""

from functools import lru_cache

from celery import Celery

from app.core.queue import get_celery


@lru_cache
def consumer_app() -> Celery:
    """The producer's app with the worker's settings: one job at a time, acknowledged only when done."""
    celery = get_celery()
    celery.conf.update(
        include=["worker.tasks"],
        task_acks_late=True,  # a worker that dies mid-job leaves the message to be delivered again
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,  # one GPU, one job: never hold a second message another worker could run
        worker_concurrency=1,
        worker_hijack_root_logger=False,
    )
    return celery


def __getattr__(name: str) -> Celery:
    if name == "celery_app":
        return consumer_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
