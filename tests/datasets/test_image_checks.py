"""inspect_image on photo-sized JPEGs: the reduced-scale decode still reads, and so rejects, every broken byte."""

import pytest

from app.datasets.images import ImageInfo, inspect_image
from tests.datasets.archives import image_bytes

MAX_PIXELS = 50_000_000


@pytest.fixture
def photo() -> bytes:
    return image_bytes(3, size=(640, 480))  # large enough that the decoder scales it by 1/8


def test_a_whole_jpeg_keeps_its_full_size(tmp_path, photo):
    path = tmp_path / "ok.jpg"
    path.write_bytes(photo)
    assert inspect_image(path, max_pixels=MAX_PIXELS) == ImageInfo(format="JPEG", width=640, height=480)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda b: b[: len(b) // 2], id="truncated at half"),
        pytest.param(lambda b: b[:-200], id="last 200 bytes missing"),
        pytest.param(lambda b: b[: len(b) // 2] + b"\xff" * 300 + b[len(b) // 2 + 300 :], id="garbled middle"),
    ],
)
def test_a_damaged_jpeg_is_corrupt(tmp_path, photo, damage):
    path = tmp_path / "bad.jpg"
    path.write_bytes(damage(photo))
    reason = inspect_image(path, max_pixels=MAX_PIXELS)
    assert isinstance(reason, str) and reason.startswith("corrupt image"), reason
