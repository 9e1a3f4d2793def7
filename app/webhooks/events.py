"""What a webhook can subscribe to, and the states of one delivery."""

from enum import StrEnum


class EventType(StrEnum):
    JOB_STATUS_CHANGED = "job.status_changed"
    JOB_EPOCH_RECORDED = "job.epoch_recorded"
    DATASET_READY = "dataset.ready"
    DATASET_INVALID = "dataset.invalid"


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its first or next attempt
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # it kept failing for FLASHJOBS_WEBHOOK_RETRY_FOR_S
