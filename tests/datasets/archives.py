"""Builds the archives the dataset tests upload: real JPEGs and PNGs, real zip and tar files, hostile ones too."""

import colorsys
import io
import tarfile
import zipfile

import numpy as np
from PIL import Image


def image_bytes(label: int, *, size: tuple[int, int] = (24, 20), fmt: str = "JPEG", seed: int = 0) -> bytes:
    """A learnable image: its class's colour (a hue of its own) plus noise, encoded as `fmt`."""
    rng = np.random.default_rng(seed * 1000 + label)
    width, height = size
    colour = np.array(colorsys.hsv_to_rgb(label / 8, 0.85, 0.9)) * 255
    pixels = colour[None, None, :] + rng.normal(0, 12, (height, width, 3))
    out = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(out, format=fmt)
    return out.getvalue()


def class_tree(
    classes: dict[str, int], *, prefix: str = "", size: tuple[int, int] = (24, 20), seed: int = 0
) -> dict[str, bytes]:
    """{"<prefix><class>/<n>.jpg": JPEG bytes} with `count` images per class."""
    return {
        f"{prefix}{name}/{n:03d}.jpg": image_bytes(label, size=size, seed=seed + n)
        for label, (name, count) in enumerate(classes.items())
        for n in range(count)
    }


def hymenoptera_tree() -> dict[str, bytes]:
    """Shaped like hymenoptera_data.zip: one top folder, train/ and val/, ants and bees, JPEGs of several sizes,
    one truncated JPEG, and the __MACOSX/ litter macOS's archiver adds."""
    files: dict[str, bytes] = {}
    for split, count in (("train", 12), ("val", 4)):
        for label, name in enumerate(("ants", "bees")):
            for n in range(count):
                size = (24 + 8 * (n % 3), 20 + 4 * (n % 2))
                files[f"hymenoptera_data/{split}/{name}/{n:03d}.jpg"] = image_bytes(label, size=size, seed=n)
    whole = image_bytes(1, size=(40, 40), seed=99)
    files["hymenoptera_data/train/bees/corrupt.jpg"] = whole[: len(whole) // 2]
    files["__MACOSX/hymenoptera_data/train/ants/._000.jpg"] = b"\x00\x05\x16\x07 AppleDouble"
    files["hymenoptera_data/.DS_Store"] = b"\x00\x00\x00\x01Bud1"
    return files


def zip_bytes(files: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def tar_bytes(files: dict[str, bytes], *, mode: str = "w:gz", extra: list[tarfile.TarInfo] = ()) -> bytes:
    """A tar (mode "w", "w:gz", ...) of the files, plus special members (links, devices) as given."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for info in extra:
            archive.addfile(info)
    return out.getvalue()


def special_member(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    """A tar member that is no regular file: tarfile.SYMTYPE, LNKTYPE, CHRTYPE, BLKTYPE, FIFOTYPE."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info
