"""Metric curves: a cheap poll with ETag, and a Server-Sent Events stream."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import redis.asyncio as aioredis
from fastapi import APIRouter, Header, Query, Request, Response
from redis.exceptions import RedisError
from sqlalchemy.orm import Session
from sse_starlette.sse import EventSourceResponse

from app.api.deps import JobDep, VisibleJobId
from app.api.openapi import CACHED, JOB_NOT_FOUND, SSE_STREAM
from app.api.responses import etag_json
from app.core.bounds import PRINTABLE, SQL_INT_MAX
from app.core.db import read_in_thread
from app.jobs import service as jobs
from app.jobs.models import Job
from app.jobs.status import FINAL
from app.metrics import live, service
from app.metrics.polling import curve_poller

router = APIRouter(prefix="/v1/jobs/{job_id}/metrics", tags=["metrics"])
STREAM_BLOCK_MS = 2000  # how long one XREAD waits before the stream checks SQL again


@router.get("", responses={**CACHED, **JOB_NOT_FOUND})
async def get_metrics(
    job_id: VisibleJobId,
    names: Annotated[
        str | None,
        Query(description="Comma-separated series, e.g. val_accuracy,val_f1", max_length=2000, pattern=PRINTABLE),
    ] = None,
    since_epoch: Annotated[int | None, Query(ge=0, le=SQL_INT_MAX)] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Curves by series name `{split}_{metric}`; an unchanged poll with If-None-Match answers 304."""
    # Reads are shared between concurrent polls and a finished curve comes from memory (app/metrics/polling.py).
    found = await curve_poller.get((job_id, names, since_epoch))
    return etag_json(found, if_none_match=if_none_match, missing=f"no job {job_id!r}")


@router.get("/stream", response_class=EventSourceResponse, responses={**SSE_STREAM, **JOB_NOT_FOUND})
async def stream_metrics(
    job: JobDep,
    request: Request,
    # `int`, not `int | None`: absent is the only "none" a header has, and the schema must not offer `null`.
    last_event_id: Annotated[int, Header(ge=-1, le=SQL_INT_MAX, description="The last epoch event seen")] = -1,
) -> Response:
    """SSE: an `epoch` event per epoch (id = epoch), `progress` events, and an `end` event when the job ends."""
    return EventSourceResponse(_events(request.app.state.redis, job.id, last_event_id))


def _read_progress(session: Session, job_id: str, after_epoch: int) -> tuple[Job, list[tuple[int, dict[str, float]]]]:
    job = jobs.get_job(session, job_id=job_id)
    assert job is not None  # jobs are never deleted
    return job, service.epochs_after(session, job_id=job_id, after_epoch=after_epoch)


async def _events(redis: aioredis.Redis, job_id: str, after_epoch: int) -> AsyncIterator[dict[str, Any]]:
    """Epochs come from SQL (the record), so a restarted or trimmed Redis loses none; Redis only wakes us."""
    key = live.stream_key(job_id)
    cursor = await _stream_tail(redis, key)
    while True:
        job, epochs = await read_in_thread(_read_progress, job_id, after_epoch)
        for epoch, values in epochs:
            yield {"event": "epoch", "id": str(epoch), "data": json.dumps({"epoch": epoch, "metrics": values})}
            after_epoch = epoch
        if job.status in FINAL:
            error = {"type": job.error_type, "message": job.error_message} if job.error_type else None
            yield {"event": "end", "data": json.dumps({"status": job.status, "error": error})}
            return
        try:
            batches = await redis.xread({key: cursor}, block=STREAM_BLOCK_MS, count=100)
        except RedisError:
            await asyncio.sleep(STREAM_BLOCK_MS / 1000)  # Redis away: keep serving epochs from SQL
            continue
        for _key, entries in batches or []:
            for entry_id, fields in entries:
                cursor = entry_id
                if fields.get(b"event") == b"progress":
                    yield {"event": "progress", "data": fields[b"data"].decode()}


async def _stream_tail(redis: aioredis.Redis, key: str) -> str | bytes:
    """The id of the newest entry, so the stream starts with what happens from now on."""
    try:
        newest = await redis.xrevrange(key, count=1)
    except RedisError:
        return "0-0"
    return newest[0][0] if newest else "0-0"
