"""Pillow checks of a user's images (each decoded to its last byte), the default training size, the contact sheet."""

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from PIL import Image, ImageDraw, ImageOps

# The file names Flash's image loader reads: it silently drops files named otherwise.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
# What those files may hold, by Pillow's name for the format (MPO: many cameras' JPEGs).
TRAINABLE_FORMATS = {"JPEG", "MPO", "PNG", "BMP", "PPM", "TIFF", "WEBP"}
# Bounds of the default training size: below 16 px a ResNet has nothing left to pool; 224 px is ImageNet's size,
# and larger photos cost compute with little to gain for a classifier trained from scratch.
MIN_DEFAULT_SIZE, MAX_DEFAULT_SIZE = 16, 224
# The settings that raise the pixel limits, named in the refusals.
DATASET_PIXELS_SETTING = "FLASHJOBS_DATASET_MAX_IMAGE_PIXELS"
PREDICT_PIXELS_SETTING = "FLASHJOBS_PREDICT_MAX_IMAGE_PIXELS"
THUMBNAIL = 72
LABEL_WIDTH = 140


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int


@dataclass(frozen=True)
class PixelLimit:
    """At most `pixels` per image; the refusal names `setting`, which raises it."""

    pixels: int
    setting: str


def inspect_image(path: Path | IO[bytes], *, max_pixels: int) -> ImageInfo | str:
    """The image's format and size once all its data has decoded, or the reason it cannot be trained on."""
    try:
        with Image.open(path) as image:
            refused = header_refusal(image, PixelLimit(max_pixels, DATASET_PIXELS_SETTING))
            if refused is not None:
                return refused
            width, height = image.size
            if image.format in ("JPEG", "MPO"):
                # libjpeg scales by 1/8 inside the inverse DCT: every byte of the entropy-coded data is still
                # decoded (truncated or broken streams raise as at full size) for 0.6 of the CPU time.
                image.draft(image.mode, (max(1, width // 8), max(1, height // 8)))
            image.load()
            return ImageInfo(format=image.format, width=width, height=height)
    except Exception as exc:
        return unreadable(exc)


def header_refusal(image: Image.Image, limit: PixelLimit) -> str | None:
    """Why an opened image is not decoded, from its header alone (format, pixel count); None if it may be."""
    if image.format not in TRAINABLE_FORMATS:
        return f"{image.format} images are not read by training (formats: {', '.join(sorted(TRAINABLE_FORMATS))})"
    width, height = image.size
    if width * height > limit.pixels:
        return f"{width}x{height} pixels is over the limit of {limit.pixels} (a decompression bomb?; {limit.setting})"
    return None


def unreadable(exc: Exception) -> str:
    """What an exception from opening or decoding a user's image says of the image."""
    if isinstance(exc, Image.DecompressionBombError):
        return f"a decompression bomb: {exc}"
    if isinstance(exc, Image.UnidentifiedImageError):
        return "not an image (Pillow does not recognise it)"
    # Hostile files make decoders raise almost anything (OSError, SyntaxError, struct.error, ValueError, ...);
    # whatever it is, the file is corrupt.
    return f"corrupt image: {type(exc).__name__}: {exc}"


def default_image_size(infos: list[ImageInfo]) -> int:
    """The median of the images' shorter sides, within [MIN_DEFAULT_SIZE, MAX_DEFAULT_SIZE]."""
    # 32 px images train at 32 px (upscaling them to 128 costs 16x the compute for nothing), photos at 224.
    if not infos:
        return MAX_DEFAULT_SIZE
    median = statistics.median_low(min(info.width, info.height) for info in infos)
    return max(MIN_DEFAULT_SIZE, min(MAX_DEFAULT_SIZE, int(median)))


def contact_sheet(samples: dict[str, list[Path]], out: Path) -> None:
    """One PNG: a row per class, its name, then a few of its images as thumbnails."""
    columns = max((len(paths) for paths in samples.values()), default=1)
    sheet = Image.new("RGB", (LABEL_WIDTH + columns * (THUMBNAIL + 4) + 4, len(samples) * (THUMBNAIL + 4) + 4), "white")
    draw = ImageDraw.Draw(sheet)
    for row, (class_name, paths) in enumerate(samples.items()):
        top = 4 + row * (THUMBNAIL + 4)
        draw.text((6, top + THUMBNAIL // 2 - 6), class_name[:22], fill="black")
        for column, path in enumerate(paths):
            with Image.open(path) as image:
                image.draft("RGB", (THUMBNAIL, THUMBNAIL))  # JPEGs decode at a fraction of their size
                thumbnail = ImageOps.pad(image.convert("RGB"), (THUMBNAIL, THUMBNAIL), color="white")
            sheet.paste(thumbnail, (LABEL_WIDTH + 4 + column * (THUMBNAIL + 4), top))
    sheet.save(out, format="PNG")
