"""Predictions for a job: check that it has a model, hand the images to a prediction server, wait for its answer."""

import json
import time
import uuid

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from app.artifacts import service as artifacts
from app.core.config import Settings
from app.core.db import read_in_thread
from app.core.errors import Conflict, Invalid, ServiceError, Unavailable
from app.jobs.models import Job
from app.jobs.status import JobStatus
from app.predictions import protocol
from app.predictions.inputs import ParsedRequest
from app.predictions.protocol import PredictionRequest

DEFAULT_TOP_K = 5
WAIT_SLICE_S = 2.0


async def predict(*, redis: aioredis.Redis, job: Job, request: ParsedRequest, settings: Settings) -> list[list[dict]]:
    """Each image's top classes, [{label, probability}] highest first, from a server that has the job's model."""
    if job.status != JobStatus.SUCCEEDED:
        raise Conflict(f"job {job.id} is {job.status}: predictions need a job that has succeeded")
    model = await read_in_thread(artifacts.get, job_id=job.id, name="model")
    if model is None:
        raise Conflict(f"job {job.id} has no model artifact to predict with")
    if not await redis.zcount(protocol.SERVERS, time.time() - protocol.SERVER_STALE_S, "+inf"):
        raise Unavailable(
            "no prediction server is running: start one with `flashjobs predictor` "
            "(`flashjobs up` runs one) on a host that shares this artifact store"
        )
    message = PredictionRequest(
        id=uuid.uuid4().hex,
        job_id=job.id,
        model_path=model.path,
        model_sha256=model.sha256,
        top_k=request.top_k or DEFAULT_TOP_K,
        deadline=time.time() + settings.predict_timeout_s,
    )
    try:
        await redis.lpush(protocol.REQUESTS, protocol.encode_request(message, [image.data for image in request.images]))
        reply = await wait_for_reply(redis, message)
    except RedisError as exc:
        raise Unavailable(f"Redis (FLASHJOBS_REDIS_URL) does not answer: {exc}") from None
    if reply is None:
        raise Unavailable(
            f"no prediction server answered within {settings.predict_timeout_s:g} s (FLASHJOBS_PREDICT_TIMEOUT_S); "
            "the servers are busy or stopped"
        )
    answer = json.loads(reply)
    if "error" in answer:
        raise _error(answer["error"], job=job, request=request)
    return answer["predictions"]


async def wait_for_reply(redis: aioredis.Redis, message: PredictionRequest) -> bytes | None:
    """The server's answer, or None once the request's deadline has passed."""
    # Blocking reads in slices shorter than the client's socket timeout (redis-py's default is 5 s).
    while (left := message.deadline - time.time()) > 0:
        popped = await redis.blpop([message.reply_key], timeout=min(left, WAIT_SLICE_S))
        if popped is not None:
            return popped[1]
    return None


def _error(error: dict, *, job: Job, request: ParsedRequest) -> ServiceError:
    """A server's error as the API answers it."""
    kind, message = error.get("kind"), error.get("message", "")
    if kind == protocol.BAD_IMAGE:
        return Invalid(request.images[error["index"]].loc, message)
    if kind == protocol.MODEL_MISSING:
        return Conflict(f"the model of job {job.id} is not there yet: {message}")
    if kind == protocol.BAD_MODEL:
        return Conflict(f"the model of job {job.id} cannot be used: {message}")
    return ServiceError(f"the prediction server failed: {message}")
