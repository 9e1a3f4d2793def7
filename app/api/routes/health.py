"""Liveness and readiness."""

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.core.db import read_in_thread

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)
NOT_READY = {
    503: {"description": "The database or Redis does not answer; `checks` says which, and which setting points at it"}
}


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up: answered on the event loop, so a busy threadpool cannot make it look dead."""
    return {"status": "ok"}


@router.get("/readyz", responses=NOT_READY)
async def readyz(request: Request) -> JSONResponse:
    """The database and Redis answer."""
    checks: dict[str, str] = {}
    try:
        await read_in_thread(_ping_database)  # the read engine: a probe must not take SQLite's write lock
        checks["database"] = "ok"
    except (SQLAlchemyError, OSError):
        # The exception's text names hosts, files and driver internals: it goes to the log, not to the caller.
        log.exception("readiness: the database does not answer")
        checks["database"] = "error: the database does not answer (FLASHJOBS_DATABASE_URL)"
    try:
        await request.app.state.redis.ping()
        checks["redis"] = "ok"
    except (RedisError, OSError):
        log.exception("readiness: Redis does not answer")
        checks["redis"] = "error: Redis does not answer (FLASHJOBS_REDIS_URL)"
    ready = all(v == "ok" for v in checks.values())
    body = {"status": "ready" if ready else "not ready", "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503)


def _ping_database(session: Session) -> None:
    session.execute(text("SELECT 1"))
