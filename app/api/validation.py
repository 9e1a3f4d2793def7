"""FastAPI's 422 for a request that fails validation, without echoing large or unencodable inputs back."""

import json
import math
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

# An `input` whose JSON is longer than this is left out of the error: the caller has it, and echoing a
# megabyte back doubles the cost of a bad request.
MAX_ECHOED_INPUT_CHARS = 200


def public_errors(errors: Any) -> list[dict[str, Any]]:
    """Pydantic's error list as the API answers it: loc, msg, type, ctx, and `input` only when it is short."""
    answered = []
    for error in errors:
        item = {key: error[key] for key in ("loc", "msg", "type") if key in error}
        if "ctx" in error:
            item["ctx"] = {key: _short(value) for key, value in error["ctx"].items()}
        echoed = _echoable(error.get("input"))
        if echoed is not None:
            item["input"] = echoed
        answered.append(item)
    return answered


def _short(value: Any) -> Any:
    """A ctx value as JSON can carry it (an exception becomes its message; NaN and infinities, their name)."""
    if isinstance(value, BaseException):
        return str(value)[:MAX_ECHOED_INPUT_CHARS]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value if _echoable(value) is not None else None


def _echoable(value: Any) -> Any:
    """`value` if it is short, finite JSON; otherwise None (left out)."""
    try:
        encoded = json.dumps(jsonable_encoder(value), allow_nan=False)
    except (TypeError, ValueError):
        return str(value)[:MAX_ECHOED_INPUT_CHARS] if isinstance(value, float) else None
    return None if len(encoded) > MAX_ECHOED_INPUT_CHARS else json.loads(encoded)


async def request_validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    """The 422 of FastAPI's validation, through `public_errors`."""
    return JSONResponse({"detail": public_errors(exc.errors())}, status_code=422)
