"""GET /metrics: the service's own metrics in the Prometheus text format."""

import ipaddress

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.orm import Session

from app.api.deps import SettingsDep
from app.core.db import read_in_thread
from app.core.errors import Forbidden
from app.monitoring.exposition import ServiceMetrics
from app.monitoring.store import read_store

router = APIRouter(tags=["monitoring"])
REFUSED = {403: {"description": "FLASHJOBS_METRICS_ACCESS=loopback and the client is not on this host"}}


def _is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:  # not an address (a Unix socket's peer, a test client's name)
        return False


def _scrape(session: Session, metrics: ServiceMetrics) -> bytes:
    with metrics.scrape_lock:
        metrics.take(read_store(session, after_metric_id=metrics.watermark))
        return metrics.exposition()


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}, **REFUSED})
async def prometheus_metrics(request: Request, settings: SettingsDep) -> Response:
    """Jobs by status, queue depth, outcomes by error type, restarts, epoch histograms, request latency."""
    if settings.metrics_access == "loopback" and not _is_loopback(request.client.host if request.client else None):
        raise Forbidden("/metrics answers clients on this host only (FLASHJOBS_METRICS_ACCESS=open opens it)")
    body = await read_in_thread(_scrape, request.app.state.service_metrics)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
