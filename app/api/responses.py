"""The answer of a polled GET: a JSON body with its ETag, 304 when the client already has it, 404 when it is gone."""

from fastapi import Response
from fastapi.responses import JSONResponse


def etag_json(found: tuple[str, bytes] | None, *, if_none_match: str | None, missing: str) -> Response:
    """`found` is (ETag, JSON body), or None for a 404 saying `missing`."""
    if found is None:
        return JSONResponse({"detail": missing}, status_code=404)
    etag, body = found
    if if_none_match == etag:
        return Response(status_code=304, headers={"ETag": etag})
    return Response(body, media_type="application/json", headers={"ETag": etag})
