"""The one place that turns service errors (app/core/errors.py) into HTTP answers, in the README's shapes."""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app.api.methods import method_not_allowed
from app.api.validation import request_validation_error
from app.core.errors import Invalid, ServiceError, TooMany, Unauthenticated


def install_error_handlers(app: FastAPI) -> None:
    """Service errors, FastAPI's own validation errors (without echoing large inputs) and 405s with Allow."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, request_validation_error)
    app.add_exception_handler(405, method_not_allowed)


async def _service_error(_request: Request, exc: ServiceError) -> JSONResponse:
    """422: {"detail": [{"loc", "msg", "type"}]} as FastAPI's own validation errors; any other: {"detail": message}."""
    if isinstance(exc, Invalid):
        detail = [{"loc": exc.loc, "msg": exc.message, "type": "value_error"}]
        return JSONResponse({"detail": detail}, status_code=exc.status_code)
    headers: dict[str, str] = {}
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, TooMany):
        headers["Retry-After"] = str(exc.retry_after_s)
    return JSONResponse({"detail": exc.message}, status_code=exc.status_code, headers=headers)
