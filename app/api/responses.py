"""The answer of a polled GET: a JSON body with its ETag, 304 when the client already has it."""

from fastapi import Response

from app.core.errors import NotFound


def etag_json(found: tuple[str, bytes] | None, *, if_none_match: str | None, missing: str) -> Response:
    """`found` is (ETag, JSON body), or None: NotFound saying `missing`."""
    if found is None:
        raise NotFound(missing)
    etag, body = found
    if if_none_match == etag:
        return Response(status_code=304, headers={"ETag": etag})
    return Response(body, media_type="application/json", headers={"ETag": etag})
