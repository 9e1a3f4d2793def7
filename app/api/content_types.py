"""State-changing routes take only the content types they declare (415 otherwise).

A web page can make a browser send a cross-site POST without a preflight only as text/plain, form-encoded or
multipart; refusing what a route does not declare closes that door even before the key check would.
"""

from fastapi import Request
from fastapi.routing import APIRoute

from app.core.errors import UnsupportedMediaType

JSON = "application/json"
BODYLESS = frozenset({"GET", "HEAD", "OPTIONS"})


def declared_types(route: APIRoute) -> frozenset[str]:
    """The content types a route's body may have: those its OpenAPI requestBody names, JSON for a model body."""
    declared = (route.openapi_extra or {}).get("requestBody", {}).get("content")
    if declared:
        return frozenset(declared)
    return frozenset({JSON}) if route.body_field is not None else frozenset()


def check_content_type(request: Request) -> None:
    """415 unless the request's Content-Type is one its route declares (a route without a body: none, or JSON)."""
    if request.method in BODYLESS:
        return
    route = request.scope.get("route")
    declared = declared_types(route) if isinstance(route, APIRoute) else frozenset()
    sent = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if sent in declared or (not declared and sent in ("", JSON)):
        return
    if not declared:
        raise UnsupportedMediaType(f"{sent}: this route takes no body (send none, or application/json)")
    raise UnsupportedMediaType(f"{sent or 'no content type'}: this route takes {', '.join(sorted(declared))}")
