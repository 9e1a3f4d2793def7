"""The answers the routes document beyond their success: `responses=` entries, one per kind of answer."""

from typing import Any

from pydantic import BaseModel


class Message(BaseModel):
    """An error answered as one sentence."""

    detail: str


def _error(description: str) -> dict[str, Any]:
    return {"model": Message, "description": description}


JOB_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: _error("No job with this id")}
ARTIFACT_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: _error("No such job, or the job has no such artifact")}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: _error("The job's state, or an earlier use of the Idempotency-Key, does not allow this")
}
# Every route that reads a body: FastAPI answers a body it cannot decode (not UTF-8) with 400, one that is not
# JSON with a 422 `json_invalid`, and app/api/body_limit.py one over its limit with 413.
WITH_BODY: dict[int | str, dict[str, Any]] = {
    400: _error("The body could not be read as text"),
    413: _error("The body is over the limit (FLASHJOBS_MAX_REQUEST_BYTES)"),
}
DATASET_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: _error("No dataset with this id")}
DATASET_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: _error("A job needs the dataset, it still imports, or the Idempotency-Key was used with other bytes")
}
UPLOAD_REFUSED: dict[int | str, dict[str, Any]] = {
    413: _error("The archive or what it unpacks to is over a limit (FLASHJOBS_MAX_UPLOAD_BYTES, ...)"),
}
KEY_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: _error("No key with this id")}
PROJECT_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: _error("No project with this name")}
PROJECT_CONFLICT: dict[int | str, dict[str, Any]] = {409: _error("A project with this name exists")}
# Every route but /healthz and /readyz (main.py adds these to each router it includes).
NEEDS_KEY: dict[int | str, dict[str, Any]] = {
    401: _error("No API key, or an unknown or revoked one (WWW-Authenticate: Bearer)"),
    403: _error("The key's scope does not allow this"),
}
# Every route that changes state (app/api/content_types.py).
DECLARED_TYPES: dict[int | str, dict[str, Any]] = {415: _error("The body's Content-Type is not one the route takes")}
QUEUE_QUOTA: dict[int | str, dict[str, Any]] = {
    429: _error("The project's max_queued quota is reached; Retry-After says when to ask again")
}
CACHED: dict[int | str, dict[str, Any]] = {304: {"description": "Unchanged since the ETag in If-None-Match"}}
SSE_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-Sent Events: `epoch`, `progress` and a final `end` event",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
}
FILE_DOWNLOAD: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file's bytes; X-Checksum-Sha256 holds their SHA-256",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    },
    410: _error("The artifact is recorded but its file is gone"),
}
PREDICTION_REFUSED: dict[int | str, dict[str, Any]] = {
    409: _error("The job has not succeeded, or has no model (yet)"),
    413: _error("Too many images (FLASHJOBS_PREDICT_MAX_IMAGES) or bytes (FLASHJOBS_PREDICT_MAX_BYTES)"),
    503: _error("No prediction server runs, or none answered in time"),
}
