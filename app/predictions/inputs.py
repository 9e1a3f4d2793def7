"""A prediction request's images, read from multipart files or JSON base64, each with the loc its errors name."""

import base64
import binascii
import json
import re
from contextlib import aclosing
from dataclasses import dataclass

from fastapi import Request
from pydantic import ValidationError

from app.core.config import Settings
from app.core.errors import Invalid, TooLarge
from app.core.multipart import Part, boundary_of, multipart_chunks
from app.predictions.schemas import MAX_TOP_K, PredictionsIn

DATA_URL = re.compile(r"^data:[\w/+.-]*;base64,")


@dataclass(frozen=True)
class ImageIn:
    data: bytes
    loc: list[str | int]  # where the image was in the request, for a 422 about it


@dataclass(frozen=True)
class ParsedRequest:
    images: list[ImageIn]
    top_k: int | None
    session: str | None = None


async def read_request(request: Request, *, settings: Settings) -> ParsedRequest:
    """The images and options of a multipart or JSON request, counted (413); the server checks each image (422)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        parsed = await _multipart(request, settings.predict_max_images)
    elif content_type == "application/json":
        parsed = _json(await request.body())
    else:
        raise Invalid(
            ["header", "content-type"],
            f"{content_type or 'no content type'}: send images as multipart/form-data files (curl -F file=@cat.png) "
            'or as JSON {"images": ["<base64>", ...]}',
        )
    if not parsed.images:
        raise Invalid(["body"], "no images: send at least one")
    if len(parsed.images) > settings.predict_max_images:
        raise TooLarge(
            f"{len(parsed.images)} images in one request; at most {settings.predict_max_images} "
            "(FLASHJOBS_PREDICT_MAX_IMAGES raises it)"
        )
    return parsed


async def _multipart(request: Request, max_images: int) -> ParsedRequest:
    """Each file part an image, held in memory (the body's size is bounded), and an optional top_k field."""
    images: list[tuple[Part, bytearray]] = []
    top_k: bytearray | None = None
    boundary = boundary_of(request.headers["content-type"])
    async with aclosing(multipart_chunks(request.stream(), boundary=boundary)) as parts:
        async for part, data in parts:
            if part.filename is not None:
                if not images or images[-1][0].index != part.index:
                    if len(images) == max_images:  # refused at the first image too many, not after reading all
                        raise TooLarge(
                            f"more than {max_images} images in one request (FLASHJOBS_PREDICT_MAX_IMAGES raises it)"
                        )
                    images.append((part, bytearray()))
                images[-1][1].extend(data)
            elif part.name == "top_k":  # _top_k checks it; the body's size bounds it meanwhile
                top_k = (top_k or bytearray()) + data
            else:
                raise Invalid(["body", part.name], "unknown field: send image files, and optionally top_k")
    return ParsedRequest(
        [ImageIn(bytes(data), ["body", part.name, i]) for i, (part, data) in enumerate(images)],
        None if top_k is None else _top_k(top_k.decode("latin-1"), ["body", "top_k"]),
    )


def _top_k(value: str, loc: list[str | int]) -> int:
    if not re.fullmatch(r"\d{1,4}", value) or not 1 <= int(value) <= MAX_TOP_K:
        raise Invalid(loc, f"top_k must be an integer from 1 to {MAX_TOP_K}")
    return int(value)


def _json(body: bytes) -> ParsedRequest:
    try:
        content = PredictionsIn.model_validate(json.loads(body))
    except (ValueError, UnicodeDecodeError) as exc:  # json.JSONDecodeError is a ValueError
        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            raise Invalid(["body", *first["loc"]], first["msg"]) from None
        raise Invalid(["body"], f"not JSON: {exc}") from None
    if (content.images is None) == (content.payload is None):
        raise Invalid(["body"], 'send either "images" (a list of base64 strings) or flash.serve\'s "payload"')
    if content.images is not None:
        encoded = [(text, ["body", "images", i]) for i, text in enumerate(content.images)]
    else:
        inputs = content.payload.inputs
        if isinstance(inputs, list):
            encoded = [(item.data, ["body", "payload", "inputs", i, "data"]) for i, item in enumerate(inputs)]
        else:
            encoded = [(inputs.data, ["body", "payload", "inputs", "data"])]
    return ParsedRequest([ImageIn(_base64(text, loc), loc) for text, loc in encoded], content.top_k, content.session)


def _base64(text: str, loc: list[str | int]) -> bytes:
    text = DATA_URL.sub("", text, count=1)
    try:
        # Missing padding is forgiven, as flash.serve's deserializer forgives it.
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise Invalid(loc, "not base64: send each image file's bytes base64-encoded") from None
