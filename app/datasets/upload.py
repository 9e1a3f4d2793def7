"""Receive an archive from a request body, raw or as a multipart file field, straight to a file on disk.

Never held whole in memory: chunks are buffered up to WRITE_BYTES and written (and hashed) in a worker thread.
The body's size is bounded by app/api/body_limit.py (FLASHJOBS_MAX_UPLOAD_BYTES for this route), which fails
the stream at the first chunk over it; that failure, like a client that disconnects, leaves no file.
"""

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from fastapi.concurrency import run_in_threadpool
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from app.core.errors import Invalid

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
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    out = _HashingFile(path)
    try:
        if content_type == b"multipart/form-data":
            name = await _receive_multipart(request.stream(), out, boundary=options.get(b"boundary", b""))
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
    if not boundary:
        raise Invalid(["header", "content-type"], "multipart/form-data without a boundary")
    state: dict = {"header_field": b"", "headers": {}, "field": None, "files": 0}
    pending: list[bytes] = []
    name = bytearray()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["header_field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        key = state["header_field"].lower()
        state["headers"][key] = state["headers"].get(key, b"") + data[start:end]

    def on_header_end() -> None:
        state["header_field"] = b""

    def on_headers_finished() -> None:
        _, disposition = parse_options_header(state["headers"].get(b"content-disposition", b""))
        state["field"] = disposition.get(b"name", b"").decode("latin-1")
        state["headers"] = {}
        if state["field"] == "file":
            state["files"] += 1

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["field"] == "file" and state["files"] == 1:
            pending.append(data[start:end])
        elif state["field"] == "name":
            name.extend(data[start:end])
            if len(name) > MAX_FIELD_BYTES:
                raise Invalid(["body", "name"], f"longer than {MAX_FIELD_BYTES} bytes")

    parser = MultipartParser(
        boundary,
        {
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
        },
    )
    async for chunk in chunks:
        parser.write(chunk)
        for data in pending:
            await out.add(data)
        pending.clear()
    parser.finalize()
    if state["files"] != 1:
        raise Invalid(["body", "file"], "a multipart upload needs exactly one `file` field with the archive")
    return name.decode("utf-8", errors="replace").strip() or None
