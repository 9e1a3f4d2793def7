"""405 with an `Allow` header that lists every method the path answers, not only those of its first route."""

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import compile_path


async def method_not_allowed(request: Request, exc: HTTPException) -> JSONResponse:
    """Starlette's 405 names the methods of the first route whose path matched; a path served by several
    routes (GET and POST /v1/jobs) answers with them all, as the OpenAPI document lists them."""
    allowed: set[str] = set()
    for path, operations in request.app.openapi()["paths"].items():
        if compile_path(path)[0].match(request.url.path):
            allowed |= {method.upper() for method in operations}
    if "GET" in allowed:
        allowed.add("HEAD")  # Starlette answers HEAD wherever it answers GET
    return JSONResponse({"detail": exc.detail}, status_code=405, headers={"Allow": ", ".join(sorted(allowed))})
