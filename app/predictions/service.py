"""Predictions for a job: check that it has a model, hand the images to a prediction server, wait for its answer."""

import time
import uuid
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.artifacts import service as artifacts
from app.core.config import Settings
from app.core.db import read_in_thread
from app.core.errors import Conflict, Invalid, ServiceError, Unavailable
from app.core.lru import LRU
from app.jobs.models import Job
from app.jobs.status import JobStatus
from app.predictions import protocol
from app.predictions.inputs import ParsedRequest
from app.predictions.protocol import PredictionRequest

DEFAULT_TOP_K = 5
WAIT_SLICE_S = 2.0


@dataclass(frozen=True)
class Predicted:
    """Each image's top classes, and where the time went: the server's own part of the round trip through Redis."""

    predictions: bytes  # the server's JSON: [[{label, probability}, ...] per image]
    round_trip_s: float  # LPUSH of the request to the reply's arrival
    server_s: float  # the server's part: decode, model lookup, preprocessing, forward


# A succeeded job's model artifact never changes: (path, sha256) by job id, so that a warm request reads no SQL.
_models: LRU[str, tuple[str, str]] = LRU(10_000)


async def model_of(job_id: str) -> tuple[str, str]:
    """The path and sha256 of a succeeded job's model; 409 if it has not succeeded or has none."""
    found = _models.get(job_id)
    if found is None:
        status, found = await read_in_thread(_read_model, job_id=job_id)
        if status != JobStatus.SUCCEEDED:
            raise Conflict(f"job {job_id} is {status}: predictions need a job that has succeeded")
        if found is None:
            raise Conflict(f"job {job_id} has no model artifact to predict with")
        _models.put(job_id, found)
    return found


def _read_model(session: Session, *, job_id: str) -> tuple[str | None, tuple[str, str] | None]:
    model = artifacts.get(session, job_id=job_id, name="model")
    return session.scalar(select(Job.status).where(Job.id == job_id)), (model.path, model.sha256) if model else None


async def predict(*, redis: aioredis.Redis, job_id: str, request: ParsedRequest, settings: Settings) -> Predicted:
    """Each image's top classes, [{label, probability}] highest first, from a server that has the job's model."""
    model_path, model_sha256 = await model_of(job_id)
    message = PredictionRequest(
        id=uuid.uuid4().hex,
        job_id=job_id,
        model_path=model_path,
        model_sha256=model_sha256,
        top_k=request.top_k or DEFAULT_TOP_K,
        max_pixels=settings.predict_max_image_pixels,
        deadline=time.time() + settings.predict_timeout_s,
    )
    encoded = protocol.encode_request(message, [image.data for image in request.images])
    sent = time.perf_counter()
    try:
        # One round trip: whether a server is alive, and the request, which is taken back if none is.
        async with redis.pipeline(transaction=False) as pipe:
            servers, _ = (
                await pipe.zcount(protocol.SERVERS, time.time() - protocol.SERVER_STALE_S, "+inf")
                .lpush(protocol.REQUESTS, encoded)
                .execute()
            )
        if not servers:
            await redis.lrem(protocol.REQUESTS, 1, encoded)
            raise Unavailable(
                "no prediction server is running: start one with `flashjobs predictor` "
                "(`flashjobs up` runs one) on a host that shares this artifact store"
            )
        reply = await wait_for_reply(redis, message)
    except RedisError as exc:
        raise Unavailable(f"Redis (FLASHJOBS_REDIS_URL) does not answer: {exc}") from None
    if reply is None:
        raise Unavailable(
            f"no prediction server answered within {settings.predict_timeout_s:g} s (FLASHJOBS_PREDICT_TIMEOUT_S); "
            "the servers are busy or stopped"
        )
    round_trip_s = time.perf_counter() - sent
    header, predictions = protocol.decode_reply(reply)
    if "error" in header:
        raise _error(header["error"], job_id=job_id, request=request)
    return Predicted(predictions, round_trip_s, header["server_s"])


async def wait_for_reply(redis: aioredis.Redis, message: PredictionRequest) -> bytes | None:
    """The server's answer, or None once the request's deadline has passed."""
    # Blocking reads in slices shorter than the client's socket timeout (redis-py's default is 5 s).
    while (left := message.deadline - time.time()) > 0:
        popped = await redis.blpop([message.reply_key], timeout=min(left, WAIT_SLICE_S))
        if popped is not None:
            return popped[1]
    return None


def _error(error: dict, *, job_id: str, request: ParsedRequest) -> ServiceError:
    """A server's error as the API answers it."""
    kind, message = error.get("kind"), error.get("message", "")
    if kind == protocol.BAD_IMAGE:
        return Invalid(request.images[error["index"]].loc, message)
    if kind == protocol.MODEL_MISSING:
        return Conflict(f"the model of job {job_id} is not there yet: {message}")
    if kind == protocol.BAD_MODEL:
        return Conflict(f"the model of job {job_id} cannot be used: {message}")
    return ServiceError(f"the prediction server failed: {message}")
