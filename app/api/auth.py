"""Who may call a route: the Bearer key's principal, and the scope a route needs (applied per router in main.py)."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.access.principal import Principal, verified_keys
from app.access.scopes import Scope, allows
from app.core.errors import Forbidden, Unauthenticated

# Only the Authorization header: never a cookie or a query string, which a cross-site request could carry.
bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer fj_...` (flashjobs keys create)")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_principal(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The principal of the request's key; 401 without one, or with an unknown or revoked one."""
    if credentials is None:
        raise Unauthenticated("an API key is needed: send `Authorization: Bearer <key>`")
    principal = await verified_keys.verify(credentials.credentials)
    if principal is None:
        raise Unauthenticated("the API key is unknown or revoked")
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(scope: Scope) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency: the principal, if its key's scope allows `scope`, else 403."""

    async def check(principal: PrincipalDep) -> Principal:
        if not allows(principal.scope, scope):
            raise Forbidden(f"this key's scope is {principal.scope}; this needs a {scope} key")
        return principal

    return check


async def scope_by_method(request: Request, principal: PrincipalDep) -> Principal:
    """Reads need a read key, everything that changes state a submit key."""
    return await require(Scope.READ if request.method in SAFE_METHODS else Scope.SUBMIT)(principal)


AUTHORIZED = Depends(scope_by_method)  # main.py: include_router(router, dependencies=[AUTHORIZED])
ADMIN_ONLY = Depends(require(Scope.ADMIN))
