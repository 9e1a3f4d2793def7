"""Bad input answers a 4xx naming what is wrong, never a 500, and never echoes a large input back."""

import json

import pytest

from app.core.bounds import SQL_INT_MAX
from tests.helpers import TRAIN, free_port

TOO_BIG_FOR_SQL = "9223372036854775808"


def _post_raw(client, path: str, body: bytes):
    return client.post(path, content=body, headers={"content-type": "application/json"})


def test_a_body_over_the_limit_is_413_naming_the_limit_and_its_setting(client):
    body = json.dumps({**TRAIN, "padding": "x" * (2 << 20)}).encode()
    response = _post_raw(client, "/v1/jobs", body)
    assert response.status_code == 413
    assert "1048576 bytes" in response.json()["detail"] and "FLASHJOBS_MAX_REQUEST_BYTES" in response.json()["detail"]
    assert client.get("/v1/jobs").json()["jobs"] == []


def test_a_chunked_body_is_counted_as_it_streams_and_refused_past_the_limit(client):
    sent = []

    def chunks():
        for _ in range(64):  # 64 x 64 KiB = 4 MiB, without a Content-Length
            sent.append(1)
            yield b" " * 65536

    response = client.post("/v1/chains", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413 and "FLASHJOBS_MAX_REQUEST_BYTES" in response.json()["detail"]


def test_the_limit_is_a_setting(client, monkeypatch):
    from app.core.config import get_settings

    monkeypatch.setenv("FLASHJOBS_MAX_REQUEST_BYTES", "50")
    get_settings.cache_clear()
    response = client.post("/v1/jobs", json=TRAIN)
    assert response.status_code == 413 and "50 bytes" in response.json()["detail"]
    get_settings.cache_clear()


def test_a_validation_error_does_not_echo_a_large_input(client):
    response = client.post("/v1/jobs", json={**TRAIN, "dataset": {"name": "folder", "train_folder": "a" * 5000}})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "dataset", "train_folder"] and "input" not in error
    assert len(response.content) < 1000
    small = client.post("/v1/jobs", json={**TRAIN, "kind": "bogus"}).json()["detail"][0]
    assert small["input"] == "bogus"  # short inputs are still echoed


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_anywhere_in_a_spec_are_422(client, literal):
    body = json.dumps(TRAIN)[:-1] + ', "model": {"backbone": "resnet18"}, "metrics": {}}'
    for field in ('"learning_rate": ' + literal, '"max_epochs": ' + literal):
        spec = body.replace('"max_epochs": 2', field)
        response = _post_raw(client, "/v1/jobs", spec.encode())
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"][:3] == ["body", "trainer", field.split('"')[1]]


@pytest.mark.parametrize("bad", ["a\x00b", "cats\n", "tab\there", "bell\x07"])
def test_control_characters_in_a_string_field_are_422(client, bad):
    spec = {"kind": "train", "dataset": {"name": "folder", "train_folder": bad}}
    response = client.post("/v1/jobs", json=spec)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "dataset", "train_folder"]
    finetune = {"kind": "finetune", "dataset": {"name": "cifar10"}, "init_from": {"job_id": bad}}
    assert client.post("/v1/jobs", json=finetune).json()["detail"][0]["loc"] == ["body", "init_from", "job_id"]


def test_since_epoch_beyond_what_sql_stores_is_422(client):
    job_id = client.post("/v1/jobs", json=TRAIN).json()["id"]
    for value in (TOO_BIG_FOR_SQL, str(SQL_INT_MAX + 1)):
        response = client.get(f"/v1/jobs/{job_id}/metrics", params={"since_epoch": value})
        assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "since_epoch"]
    assert client.get(f"/v1/jobs/{job_id}/metrics", params={"since_epoch": SQL_INT_MAX}).status_code == 200


def test_a_huge_last_event_id_is_422_before_the_stream_starts(client):
    job_id = client.post("/v1/jobs", json=TRAIN).json()["id"]
    for value in (TOO_BIG_FOR_SQL, "9" * 5000, "x"):
        response = client.get(f"/v1/jobs/{job_id}/metrics/stream", headers={"Last-Event-ID": value})
        assert response.status_code == 422 and response.headers["content-type"] == "application/json"
        assert response.json()["detail"][0]["loc"] == ["header", "last-event-id"]


@pytest.mark.parametrize(
    ("section", "field", "value", "setting"),
    [
        ("dataset", "image_size", 1024, "FLASHJOBS_MAX_IMAGE_SIZE"),
        ("trainer", "batch_size", 8192, "FLASHJOBS_MAX_BATCH_SIZE"),
        ("trainer", "max_epochs", 1000, "FLASHJOBS_MAX_EPOCHS"),
        ("trainer", "devices", 64, "FLASHJOBS_MAX_DEVICES"),
        ("trainer", "seed", 2**32, None),
        ("trainer", "max_epochs", int(TOO_BIG_FOR_SQL), None),
    ],
)
def test_work_over_a_maximum_is_422_naming_the_limit_and_its_setting(client, section, field, value, setting):
    spec = {**TRAIN, section: {**TRAIN.get(section, {}), field: value}}
    response = client.post("/v1/jobs", json=spec)
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", section, field]
    if setting:
        assert setting in error["msg"] and str(value) in error["msg"]
    assert client.get("/v1/jobs").json()["jobs"] == []


def test_maxima_are_settings_an_operator_raises(client, monkeypatch):
    from app.core.config import get_settings

    monkeypatch.setenv("FLASHJOBS_MAX_EPOCHS", "1000")
    get_settings.cache_clear()
    spec = {**TRAIN, "trainer": {"max_epochs": 1000}}
    assert client.post("/v1/jobs", json=spec).status_code == 201
    get_settings.cache_clear()


def test_chains_are_bounded_in_steps_and_in_total_epochs(client):
    step = {**TRAIN, "trainer": {"max_epochs": 300}}
    too_long = client.post("/v1/chains", json={"steps": [TRAIN] * 21})
    assert too_long.status_code == 422 and "FLASHJOBS_MAX_CHAIN_STEPS" in too_long.json()["detail"][0]["msg"]
    too_much = client.post("/v1/chains", json={"steps": [step] * 4})
    assert too_much.status_code == 422
    (error,) = too_much.json()["detail"]
    assert error["loc"] == ["body", "steps"] and "1200" in error["msg"] and "FLASHJOBS_MAX_CHAIN_EPOCHS" in error["msg"]
    assert client.post("/v1/chains", json={"steps": [step] * 3}).status_code == 201


def test_a_pt_artifact_downloads_as_octet_stream(client, service_env):
    from pathlib import Path

    from app.artifacts import service as artifacts
    from app.core.db import session_scope
    from app.jobs import service

    job_id = client.post("/v1/jobs", json=TRAIN).json()["id"]
    weights = Path(service_env["FLASHJOBS_ARTIFACT_DIR"]) / job_id / "model.pt"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"\x80weights")
    with session_scope() as session:
        attempt = service.claim(session, job_id=job_id, owner="test").attempt
        assert artifacts.register(
            session,
            job_id=job_id,
            attempt=attempt,
            name="model",
            path=weights,
            artifact_dir=Path(service_env["FLASHJOBS_ARTIFACT_DIR"]),
        )
    response = client.get(f"/v1/jobs/{job_id}/artifacts/model")
    assert response.status_code == 200 and response.content == b"\x80weights"
    assert response.headers["content-type"] == "application/octet-stream"


def test_control_characters_in_ids_names_and_cursors_never_reach_sql(client):
    """Postgres text cannot hold NUL: each of these was a 500 there."""
    import base64

    for path in (
        "/v1/jobs/a%00b",
        "/v1/jobs/a%00b/metrics",
        "/v1/jobs/a%00b/metrics/stream",
        "/v1/jobs/a%00b/artifacts",
    ):
        response = client.get(path)
        assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["path", "job_id"], path
    assert client.post("/v1/jobs/a%00b/cancel").status_code == 422
    job_id = client.post("/v1/jobs", json=TRAIN).json()["id"]
    assert client.get(f"/v1/jobs/{job_id}/artifacts/x%00y").json()["detail"][0]["loc"] == ["path", "name"]
    names = client.get(f"/v1/jobs/{job_id}/metrics", params={"names": "val_f1\x00"})
    assert names.status_code == 422 and names.json()["detail"][0]["loc"] == ["query", "names"]
    cursor = base64.urlsafe_b64encode(b"2026-01-01T00:00:00+00:00|a\x00b").decode()
    listed = client.get("/v1/jobs", params={"cursor": cursor})
    assert listed.status_code == 422 and listed.json()["detail"][0]["loc"] == ["query", "cursor"]
    assert client.get("/v1/jobs/" + "f" * 60_000).status_code == 404  # a long id is only unknown


def test_a_route_declares_a_larger_limit_of_its_own_and_it_is_still_counted():
    """The hook for streaming uploads: a (method, path template) in the table gets the limit of its setting."""
    from fastapi.testclient import TestClient
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from app.api.body_limit import BodyLimit
    from app.core.config import Settings

    class UploadSettings(Settings):
        max_upload_bytes: int = 3 << 20

    async def upload(request: Request) -> JSONResponse:
        return JSONResponse({"received": sum([len(chunk) async for chunk in request.stream()])})

    app = Starlette(routes=[Route("/v1/uploads/{name}", upload, methods=["POST"])])
    limited = BodyLimit(app, settings=UploadSettings, larger={("POST", "/v1/uploads/{name}"): "max_upload_bytes"})
    with TestClient(limited) as client:
        assert client.post("/v1/uploads/a", content=b"x" * (2 << 20)).json() == {"received": 2 << 20}
        over = client.post("/v1/uploads/a", content=(b"x" * 65536 for _ in range(64)))  # 4 MiB, chunked
        assert over.status_code == 413 and "FLASHJOBS_MAX_UPLOAD_BYTES" in over.text
        assert client.post("/v1/other", content=b"x" * (2 << 20)).status_code == 413  # the default elsewhere


def test_a_real_server_refuses_a_declared_huge_body_before_it_is_sent(service_env, redis_url, tmp_path):
    """uvicorn: 413 goes out on the headers alone (the 21 MB body is never sent, so a server that waited for it
    would never answer), and /healthz answers meanwhile on the same server."""
    import socket

    import httpx

    from tests.e2e.service_stack import ServiceStack

    (tmp_path / "logs").mkdir()
    service = ServiceStack({**service_env, "FLASHJOBS_REDIS_URL": redis_url}, tmp_path / "logs")
    service.start_api()
    try:
        with socket.create_connection(("127.0.0.1", service.port), timeout=30) as sock:
            sock.sendall(
                b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b'Content-Length: 21000000\r\n\r\n{"kind": '
            )
            answer = b""
            while chunk := sock.recv(65536):  # the server closes the connection after its 413
                answer += chunk
            assert httpx.get(f"{service.url}/healthz").status_code == 200
        assert answer.startswith(b"HTTP/1.1 413"), answer
        assert b"FLASHJOBS_MAX_REQUEST_BYTES" in answer
    finally:
        service.stop()


def test_readyz_names_what_does_not_answer_by_its_setting_not_by_its_exception(service_env, monkeypatch, tmp_path):
    from fastapi.testclient import TestClient

    from app.core.config import get_settings
    from app.main import create_app

    monkeypatch.setenv("FLASHJOBS_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    get_settings.cache_clear()
    with TestClient(create_app()) as client:
        response = client.get("/readyz")
    get_settings.cache_clear()
    assert response.status_code == 503
    assert response.json()["checks"] == {
        "database": "ok",
        "redis": "error: Redis does not answer (FLASHJOBS_REDIS_URL)",
    }
