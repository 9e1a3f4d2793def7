"""app/core/multipart: parts and their bytes as they stream in, however the body is cut into chunks."""

import asyncio

import httpx
import pytest

from app.core.errors import Invalid
from app.core.multipart import boundary_of, multipart_chunks


def _encoded(files: list, data: dict | None = None) -> tuple[bytes, bytes]:
    """(body, boundary) of a multipart request as httpx (a real client) encodes it."""
    request = httpx.Request("POST", "http://test/", files=files, data=data)
    return request.read(), boundary_of(request.headers["content-type"])


def _read(body: bytes, boundary: bytes, chunk_bytes: int) -> list[tuple[int, str, str | None, bytes]]:
    async def chunks():
        for start in range(0, len(body), chunk_bytes):
            yield body[start : start + chunk_bytes]

    async def collect():
        parts: dict[int, list] = {}
        async for part, data in multipart_chunks(chunks(), boundary=boundary):
            parts.setdefault(part.index, [part.index, part.name, part.filename, b""])[3] += data
        return [tuple(p) for p in parts.values()]

    return asyncio.run(collect())


@pytest.mark.parametrize("chunk_bytes", [1, 7, 64, 10**6])
def test_every_part_and_its_bytes_whatever_the_chunks(chunk_bytes):
    payload = bytes(range(256)) * 20  # every byte value, CRLFs and dashes included
    body, boundary = _encoded(
        [("file", ("a.png", payload, "image/png")), ("file", ("empty.png", b"", "image/png"))], {"top_k": "3"}
    )
    assert _read(body, boundary, chunk_bytes) == [
        (0, "top_k", None, b"3"),
        (1, "file", "a.png", payload),
        (2, "file", "empty.png", b""),
    ]


def test_a_body_that_is_not_multipart_is_422():
    body, boundary = _encoded([("file", ("a.png", b"x" * 100, "image/png"))])
    with pytest.raises(Invalid) as refused:
        _read(body.replace(b"Content-Disposition", b"Content-Disposition\x00"), boundary, 64)
    assert refused.value.loc == ["body"] and "not a readable multipart body" in str(refused.value)


def test_a_content_type_without_a_boundary_is_422():
    with pytest.raises(Invalid) as refused:
        boundary_of("multipart/form-data")
    assert refused.value.loc == ["header", "content-type"]
