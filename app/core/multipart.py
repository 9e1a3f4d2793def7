"""A multipart/form-data body read part by part as it streams in: python-multipart's parser, no temporary files.

Starlette's request.form() spools every file part to a SpooledTemporaryFile and builds an UploadFile for it; a
route that streams an archive to disk, or holds 64 small images in memory, needs neither (2.3 ms of a 64-image
prediction went there).
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from app.core.errors import Invalid


@dataclass(frozen=True)
class Part:
    index: int  # 0, 1, ... in the order of the body
    name: str  # the Content-Disposition name
    filename: str | None  # None for a plain field; a part with a filename is a file, as browsers and curl -F send


def boundary_of(content_type: str) -> bytes:
    """The boundary of a multipart/form-data Content-Type; 422 if it has none."""
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary", b"")
    if not boundary:
        raise Invalid(["header", "content-type"], "multipart/form-data without a boundary")
    return boundary


async def multipart_chunks(chunks: AsyncIterator[bytes], *, boundary: bytes) -> AsyncIterator[tuple[Part, bytes]]:
    """Each part's data as it arrives, with the part it belongs to: (part, b"") first, so that an empty part shows."""
    header_field, headers = bytearray(), {}
    parts: list[Part] = []
    out: list[tuple[Part, bytes]] = []

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        key = bytes(header_field).lower()
        headers[key] = headers.get(key, b"") + data[start:end]

    def on_header_end() -> None:
        header_field.clear()

    def on_headers_finished() -> None:
        _, disposition = parse_options_header(headers.get(b"content-disposition", b""))
        headers.clear()
        filename = disposition.get(b"filename")
        name = disposition.get(b"name", b"").decode("utf-8", errors="replace")
        parts.append(Part(len(parts), name, None if filename is None else filename.decode("utf-8", errors="replace")))
        out.append((parts[-1], b""))

    def on_part_data(data: bytes, start: int, end: int) -> None:
        out.append((parts[-1], data[start:end]))

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
    try:
        async for chunk in chunks:
            parser.write(chunk)
            for item in out:
                yield item
            out.clear()
        parser.finalize()
    except MultipartParseError as exc:
        raise Invalid(["body"], f"not a readable multipart body: {exc}") from None
