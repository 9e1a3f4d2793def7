"""A bound on every request body, enforced while it streams in: 413 naming the limit and the setting that raises it.

Every route gets `FLASHJOBS_MAX_REQUEST_BYTES`. A route that streams large uploads declares its own, larger limit
by adding its method and path (a Starlette path template) to `LARGER_BODIES`, naming the setting that holds it:

    LARGER_BODIES = {("POST", "/v1/datasets"): "max_upload_bytes"}

The limit is checked against Content-Length before the app runs (a too-large request costs nothing), and the
bytes of a body without one (chunked) are counted as they arrive: the request fails at the first chunk over the
limit, so no handler ever buffers or parses more than the limit.
"""

import json
import re
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.config import Settings

# (method, path template) -> the Settings field holding that route's body limit in bytes. A field this build's
# Settings lacks (the route's domain is not part of it) leaves the route under the default limit.
LARGER_BODIES: dict[tuple[str, str], str] = {
    ("POST", "/v1/datasets"): "max_upload_bytes",  # archives stream to disk (app/api/routes/datasets.py)
    ("POST", "/v1/jobs/{job_id}/predictions"): "predict_max_bytes",  # up to FLASHJOBS_PREDICT_MAX_IMAGES images
}


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a streamed body passes the limit; FastAPI answers it as its 413."""

    def __init__(self, limit: int, setting: str) -> None:
        super().__init__(status_code=413, detail=too_large_message(limit, setting))


def too_large_message(limit: int, setting: str) -> str:
    return f"the request body is over the limit of {limit} bytes (FLASHJOBS_{setting.upper()} raises it)"


class BodyLimit:
    """Pure ASGI middleware: 413 for a body over its route's limit, without reading the rest of it."""

    def __init__(
        self, app: ASGIApp, *, settings: Callable[[], Settings], larger: dict[tuple[str, str], str] | None = None
    ) -> None:
        self.app = app
        self.settings = settings  # read per request (it is cached), so that no import reads the environment
        self.larger = [
            (method, compile_path(path)[0], setting)
            for (method, path), setting in (LARGER_BODIES if larger is None else larger).items()
        ]

    def _limit_for(self, scope: Scope) -> tuple[int, str]:
        settings = self.settings()
        for method, pattern, setting in self.larger:
            if scope["method"] == method and pattern.match(scope["path"]) and hasattr(settings, setting):
                return getattr(settings, setting), setting
        return settings.max_request_bytes, "max_request_bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, setting = self._limit_for(scope)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _send_413(send, too_large_message(limit, setting))
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit, setting)
            return message

        await self.app(scope, counted, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if re.fullmatch(rb"\d{1,20}", value) else None
    return None


async def _send_413(send: Send, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
