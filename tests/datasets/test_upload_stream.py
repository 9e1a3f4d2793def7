"""Uploads to a real uvicorn: streamed to disk as they arrive, nothing left by a client that goes away, one
dataset from concurrent uploads of the same bytes."""

import os
import socket
import threading
from pathlib import Path

import httpx
import pytest

from tests.datasets.archives import class_tree, zip_bytes
from tests.e2e.service_stack import ServiceStack, wait_for


@pytest.fixture
def api(service_env: dict[str, str], api_key: str, tmp_path: Path):
    (tmp_path / "logs").mkdir()
    stack = ServiceStack(service_env, tmp_path / "logs", api_key=api_key)
    stack.start_api()
    yield stack
    stack.stop()


def _incoming(service_env: dict[str, str]) -> list[Path]:
    folder = Path(service_env["FLASHJOBS_ARTIFACT_DIR"]) / "datasets" / ".incoming"
    return list(folder.iterdir()) if folder.exists() else []


def test_a_client_that_disconnects_mid_upload_leaves_nothing(api, api_key, service_env):
    body = zip_bytes({**class_tree({"cats": 2, "dogs": 2}), "cats/filler.jpg": os.urandom(8 * 1024 * 1024)})
    sent = len(body) // 2
    with socket.create_connection(("127.0.0.1", api.port)) as sock:
        sock.sendall(
            f"POST /v1/datasets HTTP/1.1\r\nHost: x\r\nContent-Type: application/zip\r\n"
            f"Authorization: Bearer {api_key}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body[:sent]
        )
        # The server writes what arrived before the body is complete (it never holds the whole body).
        part = wait_for(
            lambda: [p for p in _incoming(service_env) if p.stat().st_size > 0],
            timeout=30,
            what="the partial upload on disk",
        )
        assert 0 < part[0].stat().st_size <= sent
    wait_for(lambda: not _incoming(service_env), timeout=30, what="the partial upload to be removed")
    assert api.http.get("/v1/datasets", timeout=10).json()["datasets"] == []
    assert [p.name for p in (Path(service_env["FLASHJOBS_ARTIFACT_DIR"]) / "datasets").iterdir()] == [".incoming"]


def test_concurrent_uploads_of_the_same_bytes_make_one_dataset(api, service_env):
    body = zip_bytes(class_tree({"cats": 30, "dogs": 30}, size=(64, 64)))
    answers: list[httpx.Response] = []
    start = threading.Barrier(4)

    def upload() -> None:
        start.wait()
        answers.append(
            api.http.post("/v1/datasets", content=body, headers={"Content-Type": "application/zip"}, timeout=120)
        )

    threads = [threading.Thread(target=upload) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in answers) == [200, 200, 200, 201], [r.text for r in answers]
    assert len({r.json()["id"] for r in answers}) == 1
    assert len(api.http.get("/v1/datasets", timeout=10).json()["datasets"]) == 1
    stored = [p.name for p in (Path(service_env["FLASHJOBS_ARTIFACT_DIR"]) / "datasets").iterdir()]
    assert sorted(stored) == sorted([".incoming", answers[0].json()["id"]]) and not _incoming(service_env)
