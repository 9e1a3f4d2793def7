"""Webhooks: create (the URL checked as hostile), read, list, delete; and the deliveries of one."""

import uuid

from sqlalchemy import delete as sql_delete
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core import addresses
from app.core.db import utcnow
from app.core.errors import Invalid
from app.core.pages import newest_first
from app.webhooks.delivery import ALLOW_SETTING
from app.webhooks.models import Delivery, Webhook
from app.webhooks.schemas import WebhookIn
from app.webhooks.signing import new_secret


def create(session: Session, *, webhook: WebhookIn, project_id: str, allow_networks: list[str]) -> Webhook:
    """A new webhook with its own secret; 422 for a URL that is not http(s) or points into the service's network."""
    try:
        allow = addresses.allowed_networks(allow_networks)
        addresses.checked_address(webhook.url, allow=allow, allow_setting=ALLOW_SETTING)
    except addresses.AddressRefused as exc:
        raise Invalid(["body", "url"], str(exc)) from exc
    row = Webhook(
        id=uuid.uuid4().hex,
        url=webhook.url,
        events=sorted(set(webhook.events)),
        secret=new_secret(),
        active=True,
        project_id=project_id,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def find(session: Session, *, webhook_id: str) -> Webhook | None:
    return session.get(Webhook, webhook_id)


def list_webhooks(session: Session, *, project: str | None) -> list[Webhook]:
    """One project's webhooks, or every project's (None), oldest first."""
    query = select(Webhook) if project is None else select(Webhook).where(Webhook.project_id == project)
    return list(session.scalars(query.order_by(Webhook.created_at, Webhook.id)))


def delete(session: Session, *, webhook_id: str) -> None:
    """Remove the webhook; its pending deliveries go with it (no more attempts)."""
    session.execute(sql_delete(Delivery).where(Delivery.webhook_id == webhook_id))
    session.execute(sql_delete(Webhook).where(Webhook.id == webhook_id))


def list_deliveries(session: Session, *, webhook_id: str, limit: int, cursor: str | None):
    """Newest first, keyset-paginated."""
    query = select(Delivery).where(Delivery.webhook_id == webhook_id)
    return newest_first(session, query, Delivery, limit=limit, cursor=cursor)
