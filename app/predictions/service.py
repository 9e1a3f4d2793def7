"""Predictions for a job: check that it has a model, hand the images to a prediction server, wait for its answer."""

import json
import time
import uuid

import redis.asyncio as aioredis

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
    await redis.lpush(protocol.REQUESTS, protocol.encode_request(message, [image.data for image in request.images]))
    reply = await redis.blpop([message.reply_key], timeout=settings.predict_timeout_s)
    if reply is None:
        raise Unavailable(
            f"no prediction server answered within {settings.predict_timeout_s:g} s (FLASHJOBS_PREDICT_TIMEOUT_S); "
            "the servers are busy or stopped"
        )
    answer = json.loads(reply[1])
    if "error" in answer:
        raise _error(answer["error"], job=job, request=request)
    return answer["predictions"]


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
