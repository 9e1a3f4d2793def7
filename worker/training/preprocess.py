"""What an image goes through before the model sees it, in training's validation and in serving alike.

Flash-free (torch, torchvision and Pillow only), so that the prediction server (worker/serving/) applies the very
functions training validated with without importing Flash: decode with Pillow and convert to RGB (Flash's image
loader), resize with torchvision's Resize on the PIL image (skipped when the size is already right), to a uint8
CHW tensor, then normalise per batch.
"""

import functools
from dataclasses import asdict, dataclass

import torch
from PIL import Image
from torchvision import transforms as T

# Per-channel statistics of the CIFAR training sets (the usual values; CIFAR-10 and -100 differ by <0.02).
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
# ImageNet's, the convention for photos of unknown origin (and for any later ImageNet-pretrained backbone).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocess:
    """What a caller must do to an RGB image before the model sees it (written to model.pt as preprocess.json)."""

    image_size: int  # resize to image_size x image_size (skipped when the image already has that size)
    mean: tuple[float, float, float]  # after scaling pixels to [0, 1]
    std: tuple[float, float, float]

    def as_dict(self) -> dict:
        return {
            **asdict(self),
            "decode": "Pillow: Image.open, load, convert('RGB') (alpha dropped, palettes and greyscale expanded)",
            "resize": "bilinear, to image_size x image_size",
            "resize_implementation": "torchvision.transforms.Resize on the PIL image: Pillow's antialiased "
            "bilinear; an image already image_size x image_size is left as it is",
            "scale": "pixel / 255",
            "normalise": "float32 (pixel - 255 * mean) / (255 * std), per channel",
            "channels": "RGB",
            "layout": "NCHW",
        }

    @classmethod
    def from_dict(cls, content: dict) -> "Preprocess":
        """The Preprocess a model.pt's preprocess.json describes."""
        return cls(int(content["image_size"]), tuple(content["mean"]), tuple(content["std"]))


def decode_rgb(image: Image.Image) -> Image.Image:
    """An opened image file decoded whole and converted to RGB, as Flash's image loader reads training files."""
    image.load()
    return image.convert("RGB")


def sample_transform(image_size: int, *, resize: bool = True) -> T.Compose:
    """PIL RGB image -> uint8 3 x image_size x image_size tensor (resize=False: the images have that size)."""
    steps = [T.Resize((image_size, image_size), antialias=True)] if resize else []
    return T.Compose([*steps, T.PILToTensor()])


def normalise(images: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """uint8 N x C x H x W -> float32 (pixel / 255 - mean) / std, in one pass over the batch."""
    shift, scale = _shift_and_scale(tuple(mean), tuple(std), images.device)
    return images.float().sub_(shift).div_(scale)


@functools.lru_cache(maxsize=16)
def _shift_and_scale(mean: tuple[float, ...], std: tuple[float, ...], device: torch.device):
    # Made once per device: building them per batch is a blocking host-to-GPU copy that stalls the input queue.
    shift = torch.tensor(mean, device=device).mul_(255).view(1, -1, 1, 1)
    scale = torch.tensor(std, device=device).mul_(255).view(1, -1, 1, 1)
    return shift, scale
