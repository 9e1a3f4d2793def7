"""The errors services raise; app/api/errors.py maps each to its HTTP answer, in the shapes the README documents."""

from collections.abc import Sequence


class ServiceError(Exception):
    """Base of every error a request can be answered with; `status_code` is its HTTP status."""

    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Invalid(ServiceError):
    """422: a field of the request cannot be accepted; `loc` names it as FastAPI's validation errors do."""

    status_code = 422

    def __init__(self, loc: Sequence[str | int], message: str) -> None:
        super().__init__(message)
        self.loc = list(loc)


class Unauthenticated(ServiceError):
    """401: no key, or a key that is unknown or revoked."""

    status_code = 401


class Forbidden(ServiceError):
    """403: the key is valid, its scope does not allow this."""

    status_code = 403


class NotFound(ServiceError):
    """404: no such thing (or one the caller may not see: the answer is the same)."""

    status_code = 404


class Conflict(ServiceError):
    """409: the state does not allow what was asked (cancel a finished job, reuse a key with another body)."""

    status_code = 409


class Gone(ServiceError):
    """410: it was recorded, and what it pointed at is no longer there."""

    status_code = 410


class TooLarge(ServiceError):
    """413: the request, or what it would store, is over a limit; the message names the limit and its setting."""

    status_code = 413


class UnsupportedMediaType(ServiceError):
    """415: the body's content type is not one the route takes."""

    status_code = 415


class TooMany(ServiceError):
    """429: over a quota that frees up with time; `retry_after_s` goes out as Retry-After."""

    status_code = 429

    def __init__(self, message: str, *, retry_after_s: int = 30) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Unavailable(ServiceError):
    """503: a service this needs (a prediction server) is not running or did not answer in time."""

    status_code = 503
