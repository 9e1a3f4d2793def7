"""A job's statuses, and the sets of them that code branches on."""

from enum import StrEnum


class JobStatus(StrEnum):
    WAITING = "waiting"  # for its parent to succeed
    QUEUED = "queued"
    RUNNING = "running"
    CANCELLING = "cancelling"  # asked to stop; the running attempt stops within a batch
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
ACTIVE = frozenset({JobStatus.RUNNING, JobStatus.CANCELLING})  # an attempt holds the job
NOT_STARTED = frozenset({JobStatus.WAITING, JobStatus.QUEUED})
