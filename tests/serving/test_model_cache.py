"""The prediction server's model cache and forward pass, on real model.pt files written by training's export."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from app.artifacts.service import sha256_of
from app.datasets.images import PREDICT_PIXELS_SETTING, PixelLimit
from app.predictions.protocol import BAD_MODEL, MODEL_MISSING
from tests.helpers import png_bytes, write_tiny_model
from worker.serving.models import ModelCache, ModelUnavailable
from worker.serving.predict import BadImage, top_classes

CLASSES = ["cat", "dog", "fox"]
LIMIT = PixelLimit(1 << 20, PREDICT_PIXELS_SETTING)


@pytest.fixture
def store(tmp_path):
    for n in range(3):
        write_tiny_model(tmp_path / f"job{n}" / "model.pt", class_names=CLASSES, seed=n)
    return tmp_path


def _get(cache: ModelCache, store, n: int):
    return cache.get(f"job{n}/model.pt", sha256_of(store / f"job{n}" / "model.pt"))


def test_a_model_is_loaded_once_and_the_least_recently_used_goes_when_memory_is_full(store):
    probe = ModelCache(artifact_dir=store, max_bytes=1 << 30, device=torch.device("cpu"))
    size = _get(probe, store, 0)[0].nbytes
    assert size > 0
    cache = ModelCache(artifact_dir=store, max_bytes=int(2.5 * size), device=torch.device("cpu"))
    assert _get(cache, store, 0)[1] and not _get(cache, store, 0)[1]  # loaded, then kept
    _get(cache, store, 1)
    _get(cache, store, 0)  # job0 is now the most recently used
    _get(cache, store, 2)  # over 2.5 models: job1 goes
    assert cache.loads == 3 and len(cache) == 2
    assert not _get(cache, store, 0)[1] and _get(cache, store, 1)[1]


def test_a_model_larger_than_the_cache_is_used_without_being_kept(store):
    cache = ModelCache(artifact_dir=store, max_bytes=10, device=torch.device("cpu"))
    model, loaded = _get(cache, store, 0)
    assert loaded and model.class_names == CLASSES and len(cache) == 0


def test_missing_changed_and_foreign_files_are_refused_with_their_reason(store, tmp_path):
    cache = ModelCache(artifact_dir=store, max_bytes=1 << 30, device=torch.device("cpu"))
    with pytest.raises(ModelUnavailable) as missing:
        cache.get("job9/model.pt", "0" * 64)
    assert missing.value.kind == MODEL_MISSING and "not in this server's artifact store" in missing.value.message
    with pytest.raises(ModelUnavailable) as changed:
        cache.get("job0/model.pt", "0" * 64)
    assert changed.value.kind == MODEL_MISSING and "another sha256" in changed.value.message
    (store / "junk.pt").write_bytes(b"not torchscript")
    with pytest.raises(ModelUnavailable) as junk:
        cache.get("junk.pt", sha256_of(store / "junk.pt"))
    assert junk.value.kind == BAD_MODEL
    with pytest.raises(ModelUnavailable) as outside:
        cache.get("../elsewhere.pt", "0" * 64)
    assert outside.value.kind == BAD_MODEL and "outside the artifact store" in outside.value.message


def test_top_classes_are_the_model_applied_to_the_preprocessed_images_in_plain_torch(store):
    cache = ModelCache(artifact_dir=store, max_bytes=1 << 30, device=torch.device("cpu"))
    model, _ = _get(cache, store, 0)
    images = [png_bytes(16, 16, seed=1), png_bytes(40, 24, seed=2), png_bytes(20, 20, seed=3, mode="L")]
    answers = top_classes(model, images, top_k=2, limit=LIMIT)

    # Plain torch and Pillow, from what preprocess.json says.
    plain = torch.jit.load(str(store / "job0" / "model.pt"))
    for data, answer in zip(images, answers, strict=True):
        image = Image.open(io.BytesIO(data)).convert("RGB").resize((16, 16), Image.BILINEAR)
        x = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)[None].float() / 255
        mean, std = torch.tensor(model.preprocess.mean), torch.tensor(model.preprocess.std)
        probabilities = plain((x - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)).softmax(-1)[0]
        expected = probabilities.topk(2)
        assert [a["label"] for a in answer] == [CLASSES[i] for i in expected.indices.tolist()]
        assert [a["probability"] for a in answer] == pytest.approx(expected.values.tolist(), abs=1e-5)


def test_an_image_that_does_not_decode_names_its_index(store):
    cache = ModelCache(artifact_dir=store, max_bytes=1 << 30, device=torch.device("cpu"))
    model, _ = _get(cache, store, 0)
    truncated = png_bytes(16, 16)[:60]
    with pytest.raises(BadImage) as bad:
        top_classes(model, [png_bytes(16, 16), truncated], top_k=1, limit=LIMIT)
    assert bad.value.index == 1 and "corrupt image" in bad.value.message


def test_an_image_over_the_pixel_limit_or_not_an_image_is_refused_naming_its_index(store):
    cache = ModelCache(artifact_dir=store, max_bytes=1 << 30, device=torch.device("cpu"))
    model, _ = _get(cache, store, 0)
    with pytest.raises(BadImage) as bad:
        top_classes(model, [png_bytes(16, 16), png_bytes(16, 16)], top_k=1, limit=PixelLimit(255, "SETTING"))
    assert bad.value.index == 0 and bad.value.message.startswith("16x16 pixels is over the limit of 255")
    assert "SETTING" in bad.value.message
    with pytest.raises(BadImage) as bad:
        top_classes(model, [png_bytes(16, 16), b"not an image"], top_k=1, limit=LIMIT)
    assert bad.value.index == 1 and "not an image" in bad.value.message


def test_a_model_whose_outputs_are_not_finite_is_refused_as_unusable(tmp_path):
    write_tiny_model(tmp_path / "nan" / "model.pt", class_names=CLASSES, diverged=True)
    cache = ModelCache(artifact_dir=tmp_path, max_bytes=1 << 30, device=torch.device("cpu"))
    model, _ = cache.get("nan/model.pt", sha256_of(tmp_path / "nan" / "model.pt"))
    with pytest.raises(ModelUnavailable) as unusable:
        top_classes(model, [png_bytes(16, 16)], top_k=1, limit=LIMIT)
    assert unusable.value.kind == BAD_MODEL and "not finite" in unusable.value.message
