"""POST /v1/jobs/{id}/predictions through the real app, Redis and a real prediction server on real model files."""

import base64
import io
import time

import numpy as np
import pytest
import torch
from PIL import Image

from app.predictions.schemas import PredictionsOut
from tests.helpers import png_bytes
from tests.predictions.conftest import CLASSES


def _wait_registered(client, job_id: str) -> None:
    """Until the server's first heartbeat has landed (the API answers 503 before it)."""
    deadline = time.monotonic() + 10
    while client.post(f"/v1/jobs/{job_id}/predictions", files={"file": png_bytes(16, 16)}).status_code == 503:
        assert time.monotonic() < deadline, "the prediction server never registered"
        time.sleep(0.05)


@pytest.fixture
def job_id(make_model_job, prediction_server, client) -> str:
    job_id = make_model_job()
    _wait_registered(client, job_id)
    return job_id


def _direct(job_id: str, data: bytes) -> list[tuple[str, float]]:
    """The model applied in plain torch, preprocessed as its preprocess.json says."""
    import json

    from app.core.config import get_settings

    extra = {"preprocess.json": ""}
    model = torch.jit.load(
        str(get_settings().effective_artifact_dir / "jobs" / job_id / "model.pt"), _extra_files=extra
    )
    preprocess = json.loads(extra["preprocess.json"])
    size = preprocess["image_size"]
    image = Image.open(io.BytesIO(data)).convert("RGB")
    if image.size != (size, size):
        image = image.resize((size, size), Image.BILINEAR)
    x = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)[None].float() / 255
    mean, std = (torch.tensor(preprocess[k]).view(1, 3, 1, 1) for k in ("mean", "std"))
    with torch.no_grad():
        probabilities = model((x - mean) / std).softmax(-1)[0]
    order = probabilities.argsort(descending=True).tolist()
    return [(CLASSES[i], probabilities[i].item()) for i in order]


def _pairs(prediction: list[dict]) -> list[tuple[str, float]]:
    return [(p["label"], p["probability"]) for p in prediction]


def test_multipart_images_get_their_classes_highest_first_as_the_model_gives_them(client, job_id):
    images = [png_bytes(16, 16, seed=1), png_bytes(48, 30, seed=2), png_bytes(16, 16, seed=3, mode="L")]
    response = client.post(
        f"/v1/jobs/{job_id}/predictions", files=[("file", (f"{i}.png", d)) for i, d in enumerate(images)]
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["job_id"] == job_id and len(body["predictions"]) == 3 and body["session"] is None
    PredictionsOut.model_validate(body)  # the documented shape, with the server's JSON spliced in
    for data, prediction in zip(images, body["predictions"], strict=True):
        assert len(prediction) == 3  # top_k 5, and the dataset has 3 classes
        direct = _direct(job_id, data)
        assert [label for label, _ in _pairs(prediction)] == [label for label, _ in direct]
        assert [p for _, p in _pairs(prediction)] == pytest.approx([p for _, p in direct], abs=1e-5)
        assert sum(p["probability"] for p in prediction) == pytest.approx(1, abs=1e-5)


def test_json_base64_and_flash_serve_payloads_answer_as_multipart(client, job_id):
    images = [png_bytes(16, 16, seed=4), png_bytes(20, 20, seed=5)]
    encoded = [base64.b64encode(d).decode() for d in images]
    url = f"/v1/jobs/{job_id}/predictions"
    multipart = client.post(url, files=[("file", d) for d in images]).json()["predictions"]
    as_json = client.post(url, json={"images": encoded}).json()["predictions"]
    serve = client.post(url, json={"session": "UUID", "payload": {"inputs": {"data": encoded[0].rstrip("=")}}})
    assert serve.status_code == 200, serve.text
    as_list = client.post(url, json={"payload": {"inputs": [{"data": f"data:image/png;base64,{e}"} for e in encoded]}})
    assert as_json == multipart and as_list.json()["predictions"] == multipart
    # One image alone: the same classes, probabilities to float rounding (a batch of one takes other kernels).
    assert serve.json()["session"] == "UUID"
    alone = _pairs(serve.json()["predictions"][0])
    assert [label for label, _ in alone] == [label for label, _ in _pairs(multipart[0])]
    assert [p for _, p in alone] == pytest.approx([p for _, p in _pairs(multipart[0])], abs=1e-5)


def test_top_k_from_the_query_the_form_or_the_json(client, job_id):
    url = f"/v1/jobs/{job_id}/predictions"
    image = png_bytes(16, 16, seed=6)
    assert len(client.post(f"{url}?top_k=1", files={"file": image}).json()["predictions"][0]) == 1
    assert len(client.post(url, files={"file": image}, data={"top_k": "2"}).json()["predictions"][0]) == 2
    body = {"images": [base64.b64encode(image).decode()], "top_k": 2}
    assert len(client.post(url, json=body).json()["predictions"][0]) == 2
    refused = client.post(url, files={"file": image}, data={"top_k": "0"})
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "top_k"]


def test_the_model_is_loaded_once_by_a_warm_server(client, job_id, prediction_server):
    for seed in range(3):
        assert client.post(f"/v1/jobs/{job_id}/predictions", files={"file": png_bytes(16, 16, seed)}).status_code == 200
    assert prediction_server.cache.loads == 1


def test_the_answer_says_where_its_time_went(client, job_id):
    response = client.post(f"/v1/jobs/{job_id}/predictions", files={"file": png_bytes(16, 16)})
    parts = dict(part.strip().split(";dur=") for part in response.headers["server-timing"].split(","))
    assert set(parts) == {"read", "queue", "predict"} and all(float(ms) >= 0 for ms in parts.values())
    assert float(parts["predict"]) > 0  # the server's own part: decode, preprocessing and a forward pass
