"""POST /v1/datasets {"url"}: the server fetches from real HTTP servers the test starts on 127.0.0.1 (and
127.0.0.2, a loopback address the settings do not allow), with the real app, SQL and Redis."""

import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import redis
from sqlalchemy import update

from tests.datasets.archives import class_tree, zip_bytes
from tests.e2e.service_stack import wait_for

ALLOW_LOOPBACK_1 = '["127.0.0.1/32"]'


class Routes(BaseHTTPRequestHandler):
    """Serves server.routes: path -> (status, headers, body); waits for server.gate before answering /gated."""

    def do_GET(self) -> None:
        self.server.hosts.append(self.headers["Host"])
        if self.path.startswith("/gated"):
            self.server.gate.wait(30)
        if self.path == "/slow":
            self.send_response(200)
            self.end_headers()
            for _ in range(50):
                self.wfile.write(b"x" * 10)
                self.wfile.flush()
                time.sleep(0.1)
            return
        status, headers, body = self.server.routes.get(self.path, (404, {}, b"no such file"))
        self.send_response(status)
        for key, value in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


def _serve(host: str):
    server = ThreadingHTTPServer((host, 0), Routes)
    server.routes, server.gate, server.hosts = {}, threading.Event(), []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{host}:{server.server_address[1]}"


@pytest.fixture
def web():
    server, url = _serve("127.0.0.1")
    yield server, url
    server.gate.set()
    server.shutdown()


def _settled(client, dataset_id: str) -> dict:
    return wait_for(
        lambda: (d := client.get(f"/v1/datasets/{dataset_id}").json())["status"] in ("ready", "invalid") and d,
        timeout=60,
        what=f"dataset {dataset_id} to be imported",
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/a.zip",
        "http://localhost/a.zip",
        "http://[::1]/a.zip",
        "http://10.1.2.3/a.zip",
        "http://169.254.169.254/latest/meta-data/",
        "http://192.168.0.1/a.zip",
        "http://[::ffff:127.0.0.1]/a.zip",
    ],
)
def test_addresses_of_the_services_own_network_are_refused_at_the_door(client, url):
    response = client.post("/v1/datasets", json={"url": url})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["body", "url"] and "own network" in detail["msg"]
    assert client.get("/v1/datasets").json()["datasets"] == []


def test_only_http_urls_are_accepted(client):
    response = client.post("/v1/datasets", json={"url": "file:///etc/passwd"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"][:2] == ["body", "url"]


def test_an_import_is_importing_until_fetched_and_jobs_wait_for_it(client, web, settings_env, redis_url):
    server, base = web
    settings_env(dataset_fetch_allow_networks=ALLOW_LOOPBACK_1)
    server.routes["/gated/pets.zip"] = (200, {}, zip_bytes(class_tree({"cats": 3, "dogs": 3})))
    server.routes["/start"] = (302, {"Location": "/gated/pets.zip"}, b"")
    redis.Redis.from_url(redis_url).delete("training")

    response = client.post("/v1/datasets", json={"url": f"{base}/start", "name": "pets"})
    assert response.status_code == 202, response.text
    dataset = response.json()
    assert dataset["status"] == "importing" and response.headers["location"] == f"/v1/datasets/{dataset['id']}"
    spec = {"kind": "train", "dataset": {"id": dataset["id"]}, "trainer": {"max_epochs": 1}}
    job = client.post("/v1/jobs", json=spec).json()
    chain = client.post(
        "/v1/chains",
        json={
            "steps": [
                {"kind": "train", "dataset": {"name": "cifar10"}},
                {"kind": "finetune", "dataset": {"id": dataset["id"]}, "init_from": {"step": 0}},
            ]
        },
    ).json()["jobs"]
    assert job["status"] == "waiting" and [j["status"] for j in chain] == ["queued", "waiting"]
    assert client.delete(f"/v1/datasets/{dataset['id']}").status_code == 409  # importing

    server.gate.set()
    ready = _settled(client, dataset["id"])
    assert ready["status"] == "ready" and ready["splits"] == {"train": {"cats": 3, "dogs": 3}}
    assert len(ready["sha256"]) == 64 and ready["bytes"] > 0 and ready["source_url"] == f"{base}/start"
    assert client.get(f"/v1/datasets/{dataset['id']}/samples").status_code == 200
    assert client.get(f"/v1/jobs/{job['id']}").json()["status"] == "queued"
    assert client.get(f"/v1/jobs/{chain[1]['id']}").json()["status"] == "waiting"  # its parent has not run
    queued = [m.decode() for m in redis.Redis.from_url(redis_url).lrange("training", 0, -1)]
    assert any(job["id"] in message for message in queued)


def test_an_import_that_fails_its_checks_is_invalid_and_fails_the_jobs_waiting_for_it(
    client, service_env, web, settings_env
):
    server, base = web
    settings_env(dataset_fetch_allow_networks=ALLOW_LOOPBACK_1)
    server.routes["/gated/bad.zip"] = (200, {}, zip_bytes({"../evil.jpg": b"x", "a/1.jpg": b"y"}))
    dataset = client.post("/v1/datasets", json={"url": f"{base}/gated/bad.zip"}).json()
    job = client.post("/v1/jobs", json={"kind": "train", "dataset": {"id": dataset["id"]}}).json()
    child = client.post(
        "/v1/jobs", json={"kind": "finetune", "dataset": {"name": "cifar100"}, "init_from": {"job_id": job["id"]}}
    ).json()
    server.gate.set()
    invalid = _settled(client, dataset["id"])
    assert invalid["status"] == "invalid" and "'..'" in invalid["problems"][0]["reason"]
    failed = client.get(f"/v1/jobs/{job['id']}").json()
    assert failed["status"] == "failed" and failed["error"]["type"] == "dataset_invalid"
    assert client.get(f"/v1/jobs/{child['id']}").json()["error"]["type"] == "upstream_failed"
    datasets = Path(service_env["FLASHJOBS_ARTIFACT_DIR"]) / "datasets"
    assert [p.name for p in datasets.rglob("*")] == [".incoming"]  # nothing kept, the download included


@pytest.mark.parametrize(
    ("route", "setting", "says"),
    [
        ("/big.zip", {"max_upload_bytes": 100}, "FLASHJOBS_MAX_UPLOAD_BYTES"),
        ("/slow", {"dataset_fetch_timeout_s": 1}, "FLASHJOBS_DATASET_FETCH_TIMEOUT_S"),
        ("/loop", {"dataset_fetch_max_redirects": 3}, "more than 3 redirects"),
        ("/missing.zip", {}, "HTTP 404"),
        ("/elsewhere", {}, "127.0.0.2 resolves to 127.0.0.2, an address of the service's own network"),
    ],
)
def test_imports_are_bounded_and_redirects_are_checked_by_the_same_rules(
    client, web, settings_env, route, setting, says
):
    server, base = web
    other, other_base = _serve("127.0.0.2")  # loopback too, but not in the allowed networks
    try:
        other.routes["/pets.zip"] = (200, {}, zip_bytes(class_tree({"cats": 2, "dogs": 2})))
        server.routes["/big.zip"] = (200, {}, zip_bytes(class_tree({"cats": 2, "dogs": 2})))
        server.routes["/loop"] = (302, {"Location": "/loop"}, b"")
        server.routes["/elsewhere"] = (302, {"Location": f"{other_base}/pets.zip"}, b"")
        settings_env(dataset_fetch_allow_networks=ALLOW_LOOPBACK_1, **setting)
        response = client.post("/v1/datasets", json={"url": f"{base}{route}"})
        assert response.status_code == 202, response.text
        invalid = _settled(client, response.json()["id"])
        assert invalid["status"] == "invalid" and says in invalid["problems"][0]["reason"], invalid
    finally:
        other.shutdown()


def test_the_reconciler_ends_an_import_whose_process_went_away(client, settings_env):
    from app.core.config import get_settings
    from app.core.db import session_scope, utcnow
    from app.datasets import service
    from app.datasets.models import Dataset
    from app.jobs.reconciler import reconcile_once

    with session_scope() as session:
        dataset_id = service.add_import(session, project_id="default", name=None, url="http://example.com/a.zip").id
    job = client.post("/v1/jobs", json={"kind": "train", "dataset": {"id": dataset_id}}).json()
    reconcile_once(get_settings())
    assert client.get(f"/v1/datasets/{dataset_id}").json()["status"] == "importing"  # its heartbeat is fresh
    with session_scope() as session:
        session.execute(
            update(Dataset)
            .where(Dataset.id == dataset_id)
            .values(heartbeat_at=utcnow() - timedelta(seconds=get_settings().heartbeat_timeout_s + 1))
        )
    reconcile_once(get_settings())
    ended = client.get(f"/v1/datasets/{dataset_id}").json()
    assert ended["status"] == "invalid" and "went away" in ended["problems"][0]["reason"]
    assert client.get(f"/v1/jobs/{job['id']}").json()["error"]["type"] == "dataset_invalid"


def test_the_connection_goes_to_the_checked_address_never_to_a_second_lookup(web):
    from app.core.addresses import PinnedHTTPConnection

    server, base = web
    server.routes["/pets.zip"] = (200, {}, b"archive bytes")
    port = server.server_address[1]
    # A name that resolves nowhere: only the address checked before is ever connected to.
    connection = PinnedHTTPConnection("rebound.invalid", port, address="127.0.0.1", timeout=10)
    connection.request("GET", "/pets.zip")
    assert connection.getresponse().read() == b"archive bytes"
    assert server.hosts == [f"rebound.invalid:{port}"]


def test_the_reconciler_sweeps_what_dead_uploads_left_half_way(service_env, settings_env):
    import os

    from app.core.config import get_settings
    from app.jobs.reconciler import reconcile_once

    settings_env(dataset_incoming_max_age_s=3600)
    incoming = Path(service_env["FLASHJOBS_ARTIFACT_DIR"]) / "datasets" / ".incoming"
    (incoming / "dead-extraction" / "files").mkdir(parents=True)
    (incoming / "dead.upload").write_bytes(b"half an archive")
    (incoming / "live.upload").write_bytes(b"still arriving")
    for name in ("dead-extraction", "dead.upload"):
        os.utime(incoming / name, (0, time.time() - 7200))
    assert reconcile_once(get_settings())["incoming_swept"] == 2
    assert [p.name for p in incoming.iterdir()] == ["live.upload"]
