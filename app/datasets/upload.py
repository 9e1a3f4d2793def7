"""Receive an archive from a request body, raw or as a multipart file field, straight to a file on disk.

Never held whole in memory: chunks are buffered up to WRITE_BYTES and written (and hashed) in a worker thread.
The body's size is bounded by app/api/body_limit.py (FLASHJOBS_MAX_UPLOAD_BYTES for this route), which fails
the stream at the first chunk over it; that failure, like a client that disconnects, leaves no file.
"""

import hashlib
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from fastapi.concurrency import run_in_threadpool
from python_multipart.multipart import parse_options_header
from starlette.requests import Request

from app.core.errors import Invalid
from app.core.multipart import boundary_of, multipart_chunks

WRITE_BYTES = 1024 * 1024
MAX_FIELD_BYTES = 1000  # the multipart `name` field
RAW_TYPES = (
    "application/zip",
    "application/x-zip-compressed",
    "application/x-tar",
    "application/gzip",
    "application/x-gzip",
    "application/x-bzip2",
    "application/x-xz",
    "application/octet-stream",
)


@dataclass(frozen=True)
class ReceivedArchive:
    path: Path
    sha256: str
    size: int
    name: str | None  # a multipart `name` field, if one came


class _HashingFile:
    """Appends to `path`, hashing as it goes; writes happen off the event loop, a megabyte at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.digest = hashlib.sha256()
        self.size = 0
        self.buffer = bytearray()
        self.file: BinaryIO = path.open("xb")

    async def add(self, data: bytes) -> None:
        self.size += len(data)
        self.buffer += data
        if len(self.buffer) >= WRITE_BYTES:
            await self.flush()

    async def flush(self) -> None:
        chunk, self.buffer = bytes(self.buffer), bytearray()
        await run_in_threadpool(self._write, chunk)

    def _write(self, chunk: bytes) -> None:
        self.digest.update(chunk)
        self.file.write(chunk)


async def receive_archive(request: Request, *, path: Path) -> ReceivedArchive:
    """Stream the request's archive into `path` (which must not exist); on any failure `path` is gone again."""
    content_type = request.headers.get("content-type", "")
    out = _HashingFile(path)
    try:
        if parse_options_header(content_type)[0] == b"multipart/form-data":
            name = await _receive_multipart(request.stream(), out, boundary=boundary_of(content_type))
        else:
            name = None
            async for chunk in request.stream():
                await out.add(chunk)
        await out.flush()
        out.file.close()
        if out.size == 0:
            raise Invalid(["body"], "the body is empty: send a zip or tar archive")
        return ReceivedArchive(path=path, sha256=out.digest.hexdigest(), size=out.size, name=name)
    except BaseException:
        out.file.close()
        path.unlink(missing_ok=True)
        raise


async def _receive_multipart(chunks: AsyncIterator[bytes], out: _HashingFile, *, boundary: bytes) -> str | None:
    """The `file` field goes to `out` (its data through the same 413 check); a `name` field is returned."""
    file_parts: set[int] = set()
    name = bytearray()
    async with aclosing(multipart_chunks(chunks, boundary=boundary)) as parts:
        async for part, data in parts:
            if part.name == "file":
                file_parts.add(part.index)
                if len(file_parts) == 1:
                    await out.add(data)
            elif part.name == "name":
                name.extend(data)
                if len(name) > MAX_FIELD_BYTES:
                    raise Invalid(["body", "name"], f"longer than {MAX_FIELD_BYTES} bytes")
    if len(file_parts) != 1:
        raise Invalid(["body", "file"], "a multipart upload needs exactly one `file` field with the archive")
    return name.decode("utf-8", errors="replace").strip() or None
