"""Webhooks: subscribe a URL to events, list, delete, and read what was delivered."""

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy.orm import Session

from app.api.auth import PrincipalDep
from app.api.deps import SessionDep, SettingsDep, WebhookDep
from app.api.openapi import WITH_BODY
from app.core.db import read_in_thread
from app.webhooks import service
from app.webhooks.schemas import DeliveryOut, DeliveryPage, WebhookCreated, WebhookIn, WebhookList, WebhookOut

router = APIRouter(prefix="/v1", tags=["webhooks"])
NOT_FOUND = {404: {"description": "No such webhook"}}


@router.post("/webhooks", status_code=201, response_model=WebhookCreated, responses=WITH_BODY)
def create_webhook(
    webhook: WebhookIn, session: SessionDep, settings: SettingsDep, principal: PrincipalDep
) -> WebhookCreated:
    """Subscribe a URL to the key's project's events; the answer holds its signing secret, shown this once."""
    allow = settings.webhook_allow_networks
    row = service.create(session, webhook=webhook, project_id=principal.project_id, allow_networks=allow)
    session.commit()
    return WebhookCreated.model_validate(row, from_attributes=True)


@router.get("/webhooks", response_model=WebhookList)
async def list_webhooks(principal: PrincipalDep) -> WebhookList:
    """The project's webhooks, oldest first (secrets are never shown again)."""
    rows = await read_in_thread(service.list_webhooks, project=principal.project_filter)
    return WebhookList(webhooks=[WebhookOut.model_validate(row, from_attributes=True) for row in rows])


@router.get("/webhooks/{webhook_id}", response_model=WebhookOut, responses=NOT_FOUND)
def get_webhook(webhook: WebhookDep) -> WebhookOut:
    """One webhook."""
    return WebhookOut.model_validate(webhook, from_attributes=True)


@router.delete("/webhooks/{webhook_id}", status_code=204, responses=NOT_FOUND)
def delete_webhook(webhook: WebhookDep, session: SessionDep) -> Response:
    """Stop deliveries to it, pending ones included."""
    service.delete(session, webhook_id=webhook.id)
    session.commit()
    return Response(status_code=204)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=DeliveryPage, responses=NOT_FOUND)
async def list_deliveries(
    webhook: WebhookDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> DeliveryPage:
    """Its deliveries, newest first: status, attempts and each attempt's answer or error."""
    return await read_in_thread(_delivery_page, webhook_id=webhook.id, limit=limit, cursor=cursor)


def _delivery_page(session: Session, *, webhook_id: str, limit: int, cursor: str | None) -> DeliveryPage:
    rows, next_cursor = service.list_deliveries(session, webhook_id=webhook_id, limit=limit, cursor=cursor)
    return DeliveryPage(
        deliveries=[DeliveryOut.model_validate(row, from_attributes=True) for row in rows], next_cursor=next_cursor
    )
