"""The files a finished run leaves: the backbone for later finetunes and a TorchScript model for anyone."""

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from worker.training.errors import TrainingError


def write_atomically(path: Path, write: Callable[[Path], None]) -> Path:
    """Call write(temp path) and rename the result onto `path`: readers see the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    with tmp.open("rb+") as f:
        os.fsync(f.fileno())  # on disk before the rename, so a power cut cannot leave a renamed empty file
    os.replace(tmp, path)
    return path


def save_backbone(path: Path, backbone: nn.Module, meta: dict) -> Path:
    """backbone.pt: {"state_dict": CPU tensors, "meta": architecture, stem, classes, source job, ...}."""
    state_dict = {key: value.detach().cpu() for key, value in backbone.state_dict().items()}
    return write_atomically(path, lambda tmp: torch.save({"state_dict": state_dict, "meta": meta}, tmp))


def load_backbone(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """The (state_dict, meta) of a backbone.pt written by save_backbone."""
    if not Path(path).is_file():
        raise TrainingError("bad_parent", f"parent backbone artifact {path} is missing")
    try:
        # weights_only: tensors and plain containers suffice, and nothing in the file can run code.
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated file, not a torch file, unexpected globals
        raise TrainingError("bad_parent", f"parent backbone artifact {path} is unreadable: {e}") from e
    if not isinstance(content, dict) or not isinstance(content.get("state_dict"), dict) or "meta" not in content:
        raise TrainingError("bad_parent", f"{path} is not a backbone artifact (needs state_dict and meta)")
    return content["state_dict"], content["meta"]


class ExportedClassifier(nn.Module):
    """Backbone, global average pool and head: the forward pass of Flash's classifier without Flash."""

    def __init__(self, backbone: nn.Module, head: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.backbone(images)
        if features.dim() == 4:  # backbones that stop before pooling (as Flash's DefaultAdapter handles them)
            features = features.mean(dim=(2, 3))
        return self.head(features)


def save_torchscript_model(
    path: Path, backbone: nn.Module, head: nn.Module, *, class_names: list[str], preprocess: dict
) -> Path:
    """model.pt: the traced eval-mode classifier (logits for normalised NCHW images) with its class names
    and preprocessing in the extra files class_names.json and preprocess.json."""
    model = ExportedClassifier(copy.deepcopy(backbone), copy.deepcopy(head)).cpu().float().eval()
    size = preprocess["image_size"]
    with torch.no_grad():
        traced = torch.jit.trace(model, torch.zeros(1, 3, size, size))
    extra_files = {"class_names.json": json.dumps(class_names), "preprocess.json": json.dumps(preprocess)}
    return write_atomically(path, lambda tmp: torch.jit.save(traced, str(tmp), _extra_files=extra_files))
