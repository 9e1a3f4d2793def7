"""Image transforms as a Flash InputTransform: decode and resize per sample, augment and normalise per batch on device.

Loader workers only turn each image into a uint8 tensor of the final size; the random crop, the flip and the
normalisation run once per batch on the training device (Flash applies `per_batch_transform_on_device` in
Lightning's `on_after_batch_transfer`). Per sample on the CPU those three cost ~0.6 ms an image (with the
decode, ~1,100 images/s per loader core: a bound for a GPU); batched they cost ~1.1 ms per 128 images on a CPU
core (docs/benchmarks.md, Input pipeline), and uint8 batches are a quarter of the bytes to pin and copy.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from flash.core.data.io.input import DataKeys
from flash.core.data.io.input_transform import InputTransform
from flash.core.data.transforms import ApplyToKeys
from torchvision import transforms as T

from worker.training.preprocess import CIFAR_MEAN, CIFAR_STD, normalise, sample_transform


def random_crop_flip(images: torch.Tensor, padding: int) -> torch.Tensor:
    """Per image: zero-pad by `padding`, crop back to H x W at a random offset, mirror with probability 1/2.

    The same distribution as torchvision's RandomCrop(size, padding) + RandomHorizontalFlip() per sample, done as
    one gather over the whole batch on whatever device it is on.
    """
    n, _, h, w = images.shape
    device = images.device
    padded = F.pad(images, (padding, padding, padding, padding)).permute(0, 2, 3, 1)  # N x H' x W' x C
    top = torch.randint(0, 2 * padding + 1, (n, 1), device=device)
    left = torch.randint(0, 2 * padding + 1, (n, 1), device=device)
    rows = top + torch.arange(h, device=device)  # N x H: the source row of each output row
    cols = left + torch.arange(w, device=device)
    mirrored = torch.rand(n, 1, device=device) < 0.5
    cols = torch.where(mirrored, cols.flip(1), cols)
    batch = torch.arange(n, device=device).view(n, 1, 1)
    return padded[batch, rows.view(n, h, 1), cols.view(n, 1, w)].permute(0, 3, 1, 2).contiguous()


@dataclass
class ClassificationTransform(InputTransform):
    """Per sample: (resize,) to uint8 tensor. Per batch on device: train random crop + flip; both normalise.

    Replaces Flash's default, which resizes every image to 196x196 (37x the work of CIFAR's 32x32), does no
    cropping and does everything per sample on the CPU.
    """

    image_size: int = 32
    mean: tuple[float, float, float] = CIFAR_MEAN
    std: tuple[float, float, float] = CIFAR_STD
    resize: bool = False  # False when the images already have image_size (CIFAR at 32): saves a resample

    def per_sample_transform(self):
        # The same function as the prediction server's (worker/training/preprocess.py).
        return T.Compose(
            [
                ApplyToKeys(DataKeys.INPUT, sample_transform(self.image_size, resize=self.resize)),
                ApplyToKeys(DataKeys.TARGET, torch.as_tensor),
            ]
        )

    def per_batch_transform_on_device(self):
        return ApplyToKeys(DataKeys.INPUT, self._normalise)

    def train_per_batch_transform_on_device(self):
        return ApplyToKeys(DataKeys.INPUT, self._augment_and_normalise)

    def _normalise(self, images: torch.Tensor) -> torch.Tensor:
        return normalise(images, self.mean, self.std)

    def _augment_and_normalise(self, images: torch.Tensor) -> torch.Tensor:
        # The classic CIFAR augmentation: pad 4 of 32 pixels (1/8, scaled with the size), crop back, mirror.
        return normalise(random_crop_flip(images, padding=max(1, self.image_size // 8)), self.mean, self.std)
