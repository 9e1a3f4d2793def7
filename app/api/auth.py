"""Who may call a route: the Bearer key's principal and the scope a route needs, checked once per request by the
dependency main.py puts on each router (routes that need the principal get the same, cached, answer)."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.access.principal import Principal, verified_keys
from app.access.scopes import Scope, allows
from app.api.content_types import check_content_type
from app.core.errors import Forbidden, Unauthenticated

# Only the Authorization header: never a cookie or a query string, which a cross-site request could carry.
bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer fj_...` (flashjobs keys create)")
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# A POST that only reads (its body is a question, POST /v1/estimates) declares it: `openapi_extra=READS`.
READS = {"x-scope": "read"}


async def _principal(credentials: HTTPAuthorizationCredentials | None) -> Principal:
    """The principal of the request's key; 401 without one, or with an unknown or revoked one."""
    if credentials is None:
        raise Unauthenticated("an API key is needed: send `Authorization: Bearer <key>`")
    principal = await verified_keys.verify(credentials.credentials)
    if principal is None:
        raise Unauthenticated("the API key is unknown or revoked")
    return principal


def _require(principal: Principal, scope: Scope) -> None:
    if not allows(principal.scope, scope):
        raise Forbidden(f"this key's scope is {principal.scope}; this needs a {scope} key")


async def authorized(request: Request, credentials: BearerDep) -> Principal:
    """Any key for reads, a submit key for what changes state; then the body's content type (415)."""
    principal = await _principal(credentials)
    _require(principal, Scope.READ if reads(request) else Scope.SUBMIT)
    check_content_type(request)
    return principal


def reads(request: Request) -> bool:
    """Whether the request only reads: a safe method, or a route declared with READS."""
    route = request.scope.get("route")
    return request.method in SAFE_METHODS or (getattr(route, "openapi_extra", None) or {}).get("x-scope") == "read"


async def admin_only(request: Request, credentials: BearerDep) -> Principal:
    """An admin key; then the body's content type (415)."""
    principal = await _principal(credentials)
    _require(principal, Scope.ADMIN)
    check_content_type(request)
    return principal


# One dependency per router (main.py: include_router(router, dependencies=[AUTHORIZED])); FastAPI caches its
# answer for the request, so PrincipalDep in a route or in deps.py costs nothing more.
AUTHORIZED = Depends(authorized)
ADMIN_ONLY = Depends(admin_only)
PrincipalDep = Annotated[Principal, AUTHORIZED]


def require(scope: Scope) -> object:
    """For a route that needs more than its router's check: `dependencies=[require(Scope.ADMIN)]`."""

    async def check(principal: PrincipalDep) -> Principal:
        _require(principal, scope)
        return principal

    return Depends(check)
