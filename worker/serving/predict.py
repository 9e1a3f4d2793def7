"""Images to top classes: checked, decoded and preprocessed as in training's validation, one forward pass."""

import io

import torch
from PIL import Image

from app.datasets.images import PixelLimit, header_refusal, unreadable
from app.predictions.protocol import BAD_MODEL
from worker.serving.models import LoadedModel, ModelUnavailable
from worker.training.preprocess import decode_rgb, normalise, sample_transform


class BadImage(Exception):
    """Image `index` of a request is refused or does not decode."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index
        self.message = message


def preprocessed(model: LoadedModel, images: list[bytes], *, limit: PixelLimit) -> torch.Tensor:
    """uint8 N x 3 x S x S: each image decoded to RGB and resized with training's per-sample transform."""
    transform = sample_transform(model.preprocess.image_size)
    tensors = []
    for index, data in enumerate(images):
        # The checks happen here, where the image is opened to be decoded anyway, not in the API: Pillow reads
        # the header once, and the format and pixel count are refused before any pixel is decoded.
        try:
            with Image.open(io.BytesIO(data)) as image:
                refused = header_refusal(image, limit)
                if refused is None:
                    tensors.append(transform(decode_rgb(image)))
        except Exception as exc:
            refused = unreadable(exc)
        if refused is not None:
            raise BadImage(index, refused)
    return torch.stack(tensors)


def logits_of(model: LoadedModel, images: list[bytes], *, limit: PixelLimit) -> torch.Tensor:
    """N x classes logits on the model's device: one forward pass over the preprocessed images."""
    batch = preprocessed(model, images, limit=limit).to(model.device, non_blocking=True)
    with torch.inference_mode():
        return model.module(normalise(batch, model.preprocess.mean, model.preprocess.std))


def top_k_of(probabilities: torch.Tensor, top_k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(probabilities, class indices) of each row's top_k classes, highest first."""
    return probabilities.topk(min(top_k, probabilities.shape[1]), dim=-1)


def top_classes(model: LoadedModel, images: list[bytes], top_k: int, *, limit: PixelLimit) -> list[list[dict]]:
    """For each image, [{label, probability}] of its top_k classes, highest first."""
    probabilities = logits_of(model, images, limit=limit).softmax(dim=-1)
    if not torch.isfinite(probabilities).all():  # finite images in, so it is the weights
        raise ModelUnavailable(BAD_MODEL, "its outputs are not finite (NaN or infinite): did its training diverge?")
    values, indices = top_k_of(probabilities, top_k)
    names = model.class_names
    return [
        [{"label": names[i], "probability": p} for p, i in zip(row_p, row_i, strict=True)]
        for row_p, row_i in zip(values.cpu().tolist(), indices.cpu().tolist(), strict=True)
    ]
