"""Predictions: a finished job's model applied to images sent as multipart files or JSON base64."""

import json
import time
from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.api.deps import SettingsDep, VisibleJobId
from app.api.openapi import JOB_NOT_FOUND, PREDICTION_REFUSED
from app.predictions import service
from app.predictions.inputs import read_request
from app.predictions.schemas import MAX_TOP_K, PredictionsIn, PredictionsOut

router = APIRouter(prefix="/v1/jobs/{job_id}/predictions", tags=["predictions"])
TopK = Annotated[int | None, Query(ge=1, le=MAX_TOP_K, description="Classes per image (default 5)")]

# The body is read by the route (multipart or JSON), not by FastAPI, so its shapes are declared for the API's docs.
PREDICTIONS_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "file": {"type": "array", "items": {"type": "string", "format": "binary"}},
                    "top_k": {"type": "integer", "minimum": 1, "maximum": MAX_TOP_K},
                },
            }
        },
        "application/json": {"schema": PredictionsIn.model_json_schema()},
    },
}


@router.post(
    "",
    response_model=PredictionsOut,
    openapi_extra={"requestBody": PREDICTIONS_BODY},
    responses={**JOB_NOT_FOUND, **PREDICTION_REFUSED},
)
async def create_predictions(
    job_id: VisibleJobId, request: Request, settings: SettingsDep, top_k: TopK = None
) -> Response:
    """For each image, its top_k classes of the job's dataset with their probabilities, highest first."""
    started = time.perf_counter()
    parsed = await read_request(request, settings=settings)
    if parsed.top_k is None and top_k is not None:
        parsed = replace(parsed, top_k=top_k)  # a top_k in the body wins over the query's
    read_s = time.perf_counter() - started
    done = await service.predict(redis=request.app.state.redis, job_id=job_id, request=parsed, settings=settings)
    timing = server_timing(read=read_s, queue=done.round_trip_s - done.server_s, predict=done.server_s)
    # PredictionsOut, with the server's JSON of the predictions spliced in as it came: parsing, checking and
    # dumping it again costs the API 0.7 ms per 64 images (FastAPI's response_model would do it twice).
    answer = b'{"job_id":%b,"predictions":%b,"session":%b}' % (
        json.dumps(job_id).encode(),
        done.predictions,
        json.dumps(parsed.session).encode(),
    )
    return Response(answer, media_type="application/json", headers={"Server-Timing": timing})


def server_timing(**seconds: float) -> str:
    """The W3C Server-Timing header: where a prediction's time went, in milliseconds (browsers' devtools draw it)."""
    return ", ".join(f"{name};dur={max(s, 0.0) * 1000:.2f}" for name, s in seconds.items())
