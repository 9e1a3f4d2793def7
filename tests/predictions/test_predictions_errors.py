"""Every refusal of POST /v1/jobs/{id}/predictions, in the service's error shapes; the server stays up after each."""

import base64
import io
import time

import pytest
import redis
from PIL import Image

from app.predictions import protocol
from tests.helpers import png_bytes

GOOD = png_bytes(16, 16)


@pytest.fixture
def settings_env(monkeypatch):
    """settings_env(FLASHJOBS_X="...") -> the app reads them from its next request."""
    from app.core.config import get_settings

    def set_env(**values: str) -> None:
        for key, value in values.items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()

    yield set_env
    get_settings.cache_clear()


@pytest.fixture
def served(make_model_job, prediction_server, client) -> str:
    job_id = make_model_job()
    deadline = time.monotonic() + 10
    while client.post(f"/v1/jobs/{job_id}/predictions", files={"file": GOOD}).status_code == 503:
        assert time.monotonic() < deadline, "the prediction server never registered"
        time.sleep(0.05)
    return job_id


def _post(client, job_id: str, **kwargs):
    return client.post(f"/v1/jobs/{job_id}/predictions", **kwargs)


def _loc_and_msg(response) -> tuple[list, str]:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    return detail["loc"], detail["msg"]


def test_unknown_job_is_404(client):
    response = _post(client, "no-such-job", files={"file": GOOD})
    assert response.status_code == 404 and "no-such-job" in response.json()["detail"]


def test_a_job_that_has_not_succeeded_or_has_no_model_is_409_with_the_reason(client, make_model_job):
    running = make_model_job(with_model=False, status=None)
    response = _post(client, running, files={"file": GOOD})
    assert response.status_code == 409 and "is running: predictions need a job that has succeeded" in response.text
    failed = make_model_job(with_model=False, status="failed")
    assert "is failed" in _post(client, failed, files={"file": GOOD}).json()["detail"]
    without_model = make_model_job(with_model=False)
    response = _post(client, without_model, files={"file": GOOD})
    assert response.status_code == 409 and "has no model artifact" in response.json()["detail"]


def test_a_model_whose_file_is_not_there_is_409_and_the_server_stays_up(client, make_model_job, served):
    from app.core.config import get_settings

    gone = make_model_job()
    (get_settings().effective_artifact_dir / "jobs" / gone / "model.pt").unlink()
    response = _post(client, gone, files={"file": GOOD})
    assert response.status_code == 409 and "is not there yet" in response.json()["detail"]
    assert _post(client, served, files={"file": GOOD}).status_code == 200


def test_no_prediction_server_is_503_at_once_and_leaves_no_request_queued(client, make_model_job, redis_url):
    started = time.monotonic()
    response = _post(client, make_model_job(), files={"file": GOOD})
    assert response.status_code == 503 and "flashjobs predictor" in response.json()["detail"]
    assert time.monotonic() - started < 5  # not the 60 s FLASHJOBS_PREDICT_TIMEOUT_S
    # The request went out with the servers' count (one round trip) and was taken back: a server starting later
    # does not answer a request nobody waits for.
    assert redis.Redis.from_url(redis_url).llen(protocol.REQUESTS) == 0


def test_what_is_not_an_image_is_422_naming_it_and_the_server_stays_up(client, served, settings_env):
    loc, msg = _loc_and_msg(_post(client, served, files=[("file", GOOD), ("file", b"hello, not an image")]))
    assert loc == ["body", "file", 1] and "not an image" in msg
    out = io.BytesIO()
    Image.new("RGB", (4, 4)).save(out, format="GIF")  # a format training does not read
    loc, msg = _loc_and_msg(_post(client, served, json={"images": [base64.b64encode(out.getvalue()).decode()]}))
    assert loc == ["body", "images", 0] and "GIF images are not read by training" in msg
    loc, msg = _loc_and_msg(_post(client, served, json={"images": ["***"]}))
    assert loc == ["body", "images", 0] and "not base64" in msg
    # A header that parses, a body that does not decode: the server finds it, and serves on.
    truncated = png_bytes(64, 64)[:300]
    loc, msg = _loc_and_msg(_post(client, served, files=[("file", GOOD), ("file", GOOD), ("file", truncated)]))
    assert loc == ["body", "file", 2] and "corrupt image" in msg
    settings_env(FLASHJOBS_PREDICT_MAX_IMAGE_PIXELS="255")
    loc, msg = _loc_and_msg(_post(client, served, files={"file": GOOD}))  # 16 x 16 = 256 pixels
    assert "16x16 pixels is over the limit of 255" in msg and "FLASHJOBS_PREDICT_MAX_IMAGE_PIXELS" in msg
    settings_env(FLASHJOBS_PREDICT_MAX_IMAGE_PIXELS="256")
    assert _post(client, served, files={"file": GOOD}).status_code == 200


def test_malformed_bodies_are_422_naming_the_field(client, served):
    plain = _post(client, served, content=b"x", headers={"content-type": "text/plain"})
    assert plain.status_code == 415 and "application/json, multipart/form-data" in plain.json()["detail"]
    assert _loc_and_msg(_post(client, served, json={"images": []}))[1] == "no images: send at least one"
    assert _loc_and_msg(_post(client, served, json={"images": ["aGk="], "other": 1}))[0] == ["body", "other"]
    both = {"images": ["aGk="], "payload": {"inputs": {"data": "aGk="}}}
    assert "either" in _loc_and_msg(_post(client, served, json=both))[1]
    assert _loc_and_msg(_post(client, served, content=b"{", headers={"content-type": "application/json"}))[0] == [
        "body"
    ]
    assert _loc_and_msg(_post(client, served, files={"file": GOOD}, data={"colour": "red"}))[0] == ["body", "colour"]
    empty_file = _loc_and_msg(_post(client, served, files=[("file", GOOD), ("file", b"")]))
    assert empty_file[0] == ["body", "file", 1] and "not an image" in empty_file[1]
    assert _loc_and_msg(_post(client, served, files={"file": GOOD}, data={"top_k": ""}))[0] == ["body", "top_k"]
    no_boundary = _post(client, served, content=b"x", headers={"content-type": "multipart/form-data"})
    assert _loc_and_msg(no_boundary)[0] == ["header", "content-type"]
    broken = _post(
        client,
        served,
        content=b"--b\r\nbad header\r\n\r\nx",
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert "not a readable multipart body" in _loc_and_msg(broken)[1]


def test_too_many_images_or_bytes_is_413(client, served, settings_env):
    settings_env(FLASHJOBS_PREDICT_MAX_IMAGES="3")
    assert _post(client, served, files=[("file", GOOD)] * 3).status_code == 200
    response = _post(client, served, files=[("file", GOOD)] * 4)
    assert response.status_code == 413 and "FLASHJOBS_PREDICT_MAX_IMAGES" in response.json()["detail"]
    response = _post(client, served, files=[("file", GOOD)] * 50)
    assert response.status_code == 413 and "FLASHJOBS_PREDICT_MAX_IMAGES" in response.json()["detail"]
    response = _post(client, served, json={"images": [base64.b64encode(GOOD).decode()] * 4})
    assert response.status_code == 413
    settings_env(FLASHJOBS_PREDICT_MAX_BYTES="2000")
    response = _post(client, served, files={"file": png_bytes(64, 64)})
    assert response.status_code == 413 and "FLASHJOBS_PREDICT_MAX_BYTES" in response.json()["detail"]
    assert _post(client, served, files={"file": GOOD}).status_code == 200
