"""Per-sample image transforms for training and validation, as a Flash InputTransform."""

from dataclasses import asdict, dataclass

import torch
from torchvision import transforms as T

from worker.training import compat  # noqa: F401  (before flash)
from flash.core.data.io.input import DataKeys
from flash.core.data.io.input_transform import InputTransform
from flash.core.data.transforms import ApplyToKeys

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
        return {**asdict(self), "resize": "bilinear, to image_size x image_size", "scale": "pixel / 255",
                "channels": "RGB", "layout": "NCHW"}


@dataclass
class ClassificationTransform(InputTransform):
    """Train: (resize,) random crop with padding, horizontal flip; val: (resize). Both: to-tensor, normalise.

    Replaces Flash's default, which resizes every image to 196x196 (37x the work of CIFAR's 32x32) and
    does no cropping.
    """

    image_size: int = 32
    mean: tuple[float, float, float] = CIFAR_MEAN
    std: tuple[float, float, float] = CIFAR_STD
    resize: bool = False  # False when the images already have image_size (CIFAR at 32): saves a resample

    def _resize(self) -> list:
        return [T.Resize((self.image_size, self.image_size), antialias=True)] if self.resize else []

    def _to_normalised_tensor(self) -> list:
        return [T.ToTensor(), T.Normalize(self.mean, self.std)]

    def per_sample_transform(self):
        return self._apply(self._resize() + self._to_normalised_tensor())

    def train_per_sample_transform(self):
        # The classic CIFAR augmentation: pad 4 of 32 pixels (1/8, scaled with the size), crop back, mirror.
        augment = [
            T.RandomCrop(self.image_size, padding=max(1, self.image_size // 8)),
            T.RandomHorizontalFlip(),
        ]
        return self._apply(self._resize() + augment + self._to_normalised_tensor())

    @staticmethod
    def _apply(image_transforms: list):
        return T.Compose(
            [ApplyToKeys(DataKeys.INPUT, T.Compose(image_transforms)), ApplyToKeys(DataKeys.TARGET, torch.as_tensor)]
        )
