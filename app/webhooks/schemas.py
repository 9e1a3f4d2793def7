"""The API's shapes of webhooks and their deliveries."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.jobs.schemas import StrictModel
from app.webhooks.events import DeliveryStatus, EventType


class WebhookIn(StrictModel):
    url: str = Field(
        max_length=2000, description="http(s); the service's own networks need FLASHJOBS_WEBHOOK_ALLOW_NETWORKS"
    )
    events: list[EventType] = Field(min_length=1, description="The event types to receive")


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[EventType]
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Shown once: verify each delivery's webhook-signature with it")


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]


class DeliveryOut(BaseModel):
    id: str = Field(description="The webhook-id header: the same on every attempt")
    event_type: EventType
    status: DeliveryStatus
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any]
    log: list[dict[str, Any]] = Field(description="The last attempts: at, status_code, error, seconds")


class DeliveryPage(BaseModel):
    deliveries: list[DeliveryOut]
    next_cursor: str | None
