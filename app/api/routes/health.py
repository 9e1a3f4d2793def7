"""Liveness and readiness."""

import logging

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app.core.db import get_read_engine

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)
NOT_READY = {503: {"description": "The database or Redis does not answer; `checks` says which, and which setting "
                                  "points at it"}}


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up: answered on the event loop, so a busy threadpool cannot make it look dead."""
    return {"status": "ok"}


@router.get("/readyz", responses=NOT_READY)
async def readyz(request: Request) -> JSONResponse:
    """The database and Redis answer."""
    checks: dict[str, str] = {}
    try:
        await run_in_threadpool(_ping_database)
        checks["database"] = "ok"
    except Exception:  # readiness reports any failure, and logs it
        # The exception's text names hosts, files and driver internals: it goes to the log, not to the caller.
        log.exception("readiness: the database does not answer")
        checks["database"] = "error: the database does not answer (FLASHJOBS_DATABASE_URL)"
    try:
        await request.app.state.redis.ping()
        checks["redis"] = "ok"
    except Exception:  # likewise
        log.exception("readiness: Redis does not answer")
        checks["redis"] = "error: Redis does not answer (FLASHJOBS_REDIS_URL)"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503)


def _ping_database() -> None:
    with get_read_engine().connect() as connection:  # a probe must not take SQLite's write lock
        connection.execute(text("SELECT 1"))
