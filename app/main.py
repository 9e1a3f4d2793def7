"""The FastAPI application: migrations at start, the routers, error mapping, the background loops."""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress

import redis.asyncio as aioredis
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from app.api.auth import ADMIN_ONLY, AUTHORIZED
from app.api.body_limit import BodyLimit
from app.api.errors import install_error_handlers
from app.api.hosts import add_host_and_origin_checks
from app.api.openapi import DECLARED_TYPES, NEEDS_KEY
from app.api.routes import (
    access,
    artifacts,
    datasets,
    estimates,
    evaluations,
    health,
    jobs,
    metrics,
    monitoring,
    predictions,
    transfer,
    web,
    webhooks,
)
from app.core.config import Settings, get_settings
from app.core.migrate import upgrade
from app.jobs.freshness import freshness
from app.jobs.reconciler import reconcile_once
from app.monitoring.exposition import RequestTimer, ServiceMetrics
from app.webhooks.delivery import deliver_due

log = logging.getLogger(__name__)


async def _every(period_s: float, what: str, work: Callable[[Settings], object], settings: Settings) -> None:
    """Run `work(settings)` in a thread, then wait `period_s`, forever."""
    while True:
        try:
            await run_in_threadpool(work, settings)
        except Exception:  # a failed pass (database away) is retried on the next tick
            log.exception("%s pass failed", what)
        await asyncio.sleep(period_s)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    await run_in_threadpool(upgrade, settings.effective_database_url)
    app.state.redis = aioredis.from_url(settings.effective_redis_url, socket_connect_timeout=2)
    stop = asyncio.Event()
    background = [asyncio.create_task(freshness.follow(app.state.redis, stop))]
    if settings.reconcile_in_api:
        loops = (
            (settings.reconcile_every_s, "reconciler", reconcile_once),
            (settings.webhook_every_s, "webhook", deliver_due),
        )
        background += [asyncio.create_task(_every(*loop, settings)) for loop in loops]
    yield
    stop.set()
    for task in background:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
    await app.state.redis.aclose()


def create_app() -> FastAPI:
    app = FastAPI(
        title="flashjobs",
        version="0.1.0",
        lifespan=lifespan,
        description="Training and finetune jobs for Lightning Flash image classifiers.",
    )
    # Without a key: the probes, /metrics (FLASHJOBS_METRICS_ACCESS guards it) and the page, which asks for one.
    for module in (health, monitoring, web):
        app.include_router(module.router)
    app.mount("/static", web.static_files, name="static")
    # Every other router is included with the key, scope and content-type check: a new one needs only this line.
    documented = {**NEEDS_KEY, **DECLARED_TYPES}
    for module in (jobs, estimates, metrics, artifacts, datasets, predictions, evaluations, transfer, webhooks):
        app.include_router(module.router, dependencies=[AUTHORIZED], responses=documented)
    app.include_router(access.router, dependencies=[ADMIN_ONLY], responses=documented)
    app.add_middleware(BodyLimit, settings=get_settings)
    add_host_and_origin_checks(app, get_settings)
    app.state.service_metrics = ServiceMetrics()
    app.add_middleware(RequestTimer, metrics=app.state.service_metrics)  # outermost: refused bodies count too
    install_error_handlers(app)
    return app


app = create_app()
