"""Jobs' model.pt files loaded once and kept in an LRU bounded by the memory their tensors take."""

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cachetools
import torch

from app.predictions.protocol import BAD_MODEL, MODEL_MISSING
from worker.training.preprocess import Preprocess

log = logging.getLogger(__name__)


class ModelUnavailable(Exception):
    """The model cannot be served: `kind` is protocol.MODEL_MISSING or protocol.BAD_MODEL."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class LoadedModel:
    """A TorchScript classifier on its device, with the class names and preprocessing it was validated with."""

    module: torch.jit.ScriptModule
    class_names: list[str]
    preprocess: Preprocess
    device: torch.device
    nbytes: int
    load_s: float


def default_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def load_model(path: Path, *, sha256: str, device: torch.device) -> LoadedModel:
    """model.pt checked against the sha256 the job registered, then loaded onto `device`."""
    started = time.perf_counter()
    if not path.is_file():
        raise ModelUnavailable(MODEL_MISSING, f"{path.name} is not in this server's artifact store")
    with path.open("rb") as f:
        found = hashlib.file_digest(f, "sha256").hexdigest()
    if found != sha256:
        # A file still being written or synced to this host, or replaced by a later attempt of the job.
        raise ModelUnavailable(MODEL_MISSING, f"{path.name} has another sha256 than the job registered")
    extra_files = {"class_names.json": "", "preprocess.json": ""}
    try:
        module = torch.jit.load(str(path), map_location=device, _extra_files=extra_files)
        class_names = json.loads(extra_files["class_names.json"])
        preprocess = Preprocess.from_dict(json.loads(extra_files["preprocess.json"]))
    except Exception as exc:  # not TorchScript, or without the class names and preprocessing a job writes
        raise ModelUnavailable(BAD_MODEL, f"{path.name}: {type(exc).__name__}: {exc}") from exc
    module.eval()
    nbytes = sum(t.numel() * t.element_size() for t in [*module.parameters(), *module.buffers()])
    return LoadedModel(module, class_names, preprocess, device, nbytes, time.perf_counter() - started)


class ModelCache:
    """At most `max_bytes` of models, least recently used dropped first; one larger than that is used uncached."""

    def __init__(self, *, artifact_dir: Path, max_bytes: int, device: torch.device) -> None:
        self.artifact_dir = artifact_dir.resolve()
        self.device = device
        self._models: cachetools.LRUCache = cachetools.LRUCache(maxsize=max_bytes, getsizeof=lambda m: m.nbytes)
        self._lock = threading.Lock()
        self.loads = 0  # files loaded since start: a warm server loads each model once

    def get(self, relative_path: str, sha256: str) -> tuple[LoadedModel, bool]:
        """(the model, whether it was loaded just now)."""
        key = (relative_path, sha256)  # a later attempt's model has another sha256: never a stale one
        with self._lock:
            model = self._models.get(key)
        if model is not None:
            return model, False
        path = (self.artifact_dir / relative_path).resolve()
        if not path.is_relative_to(self.artifact_dir):
            raise ModelUnavailable(BAD_MODEL, "the model path leads outside the artifact store")
        model = load_model(path, sha256=sha256, device=self.device)
        self.loads += 1
        log.info("loaded %s (%.0f MB) onto %s in %.2f s", relative_path, model.nbytes / 1e6, self.device, model.load_s)
        with self._lock:
            try:
                self._models[key] = model
            except ValueError:  # larger than the whole cache
                log.warning("%s is larger than FLASHJOBS_PREDICT_CACHE_BYTES; not kept", relative_path)
        return model, True

    def __len__(self) -> int:
        return len(self._models)
