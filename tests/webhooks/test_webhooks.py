"""Webhooks through the real API, real SQL and a real receiver on 127.0.0.1: signed, once per event, retried
through a receiver that is down, failing or stalling, bounded in time, and never in the way of the API."""

import base64
import hashlib
import hmac
import json
import time

import pytest

from tests.helpers import TRAIN, bearer, free_port
from tests.jobs_by_hand import finish_job, record_by_hand, running_job
from tests.webhooks.receiver import Receiver

JOB_EVENTS = ["job.status_changed", "job.epoch_recorded"]


def _subscribe(client, url: str, events=JOB_EVENTS) -> dict:
    answer = client.post("/v1/webhooks", json={"url": url, "events": events})
    assert answer.status_code == 201, answer.text
    return answer.json()


def _deliver_until_settled(timeout_s: float = 30) -> None:
    """Run deliveries as the deliverer loop does until none is pending."""
    from sqlalchemy import func, select

    from app.core.config import get_settings
    from app.core.db import session_scope
    from app.webhooks.delivery import deliver_due
    from app.webhooks.models import Delivery

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        deliver_due(get_settings())
        with session_scope() as session:
            if not session.scalar(select(func.count()).where(Delivery.status == "pending")):
                return
        time.sleep(0.05)
    raise AssertionError("deliveries still pending")


def _deliveries(client, webhook_id: str) -> list[dict]:
    return client.get(f"/v1/webhooks/{webhook_id}/deliveries").json()["deliveries"]


def _verified(secret: str, received) -> dict:
    """The payload, once its Standard Webhooks signature checks out (computed here, independently)."""
    message_id, timestamp = received.headers["webhook-id"], received.headers["webhook-timestamp"]
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = hmac.new(key, f"{message_id}.{timestamp}.".encode() + received.body, hashlib.sha256).digest()
    assert received.headers["webhook-signature"] == "v1," + base64.b64encode(expected).decode()
    assert abs(int(timestamp) - time.time()) < 300
    return json.loads(received.body)


def test_urls_into_the_service_own_network_are_refused_unless_allowed(client):
    for url in ("http://127.0.0.1:9/hook", "http://[::1]/x", "http://169.254.169.254/latest/meta-data"):
        answer = client.post("/v1/webhooks", json={"url": url, "events": JOB_EVENTS})
        assert answer.status_code == 422, answer.text
        (error,) = answer.json()["detail"]
        assert error["loc"] == ["body", "url"] and "FLASHJOBS_WEBHOOK_ALLOW_NETWORKS" in error["msg"]
    answer = client.post("/v1/webhooks", json={"url": "ftp://example.com/x", "events": JOB_EVENTS})
    assert answer.status_code == 422 and "http" in answer.json()["detail"][0]["msg"]
    answer = client.post("/v1/webhooks", json={"url": "https://example.com/x", "events": ["job.exploded"]})
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"][:2] == ["body", "events"]
    assert client.get("/v1/webhooks/nope").status_code == 404
    assert client.get("/v1/webhooks/nope/deliveries").status_code == 404


def test_each_job_event_is_delivered_once_signed_with_a_stable_id(webhook_settings, client, receiver):
    hook = _subscribe(client, receiver.url)
    assert hook["secret"].startswith("whsec_") and "secret" not in client.get(f"/v1/webhooks/{hook['id']}").json()

    job_id = running_job(client)  # queued, then running
    record_by_hand(job_id, 0)
    record_by_hand(job_id, 1)
    record_by_hand(job_id, 1)  # recorded again (a resumed attempt): no new event
    finish_job(job_id)
    _deliver_until_settled()

    payloads = sorted((_verified(hook["secret"], r) for r in receiver.received), key=lambda p: p["timestamp"])
    statuses = [p["data"]["status"] for p in payloads if p["type"] == "job.status_changed"]
    epochs = [p["data"]["epoch"] for p in payloads if p["type"] == "job.epoch_recorded"]
    assert statuses == ["queued", "running", "succeeded"] and epochs == [0, 1]
    assert {p["data"]["job_id"] for p in payloads} == {job_id}
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert len(set(ids)) == len(ids) == 5
    deliveries = _deliveries(client, hook["id"])
    assert sorted(d["id"] for d in deliveries) == sorted(ids)
    assert all(d["status"] == "delivered" and d["attempts"] == 1 for d in deliveries)
    assert deliveries[0]["log"][0]["status_code"] == 200


def test_a_receiver_down_then_failing_then_stalling_loses_nothing(webhook_settings, client):
    port = free_port()
    hook = _subscribe(client, f"http://127.0.0.1:{port}/hook", events=["job.status_changed"])
    client.post("/v1/jobs", json=TRAIN)  # one event: queued

    from app.core.config import get_settings
    from app.webhooks.delivery import deliver_due

    deliver_due(get_settings())  # nothing listens on the port yet
    (delivery,) = _deliveries(client, hook["id"])
    assert delivery["status"] == "pending" and delivery["attempts"] == 1
    assert "Connection" in delivery["log"][0]["error"]

    receiver = Receiver(port=port, answers=[500, ("stall", 3)]).start()  # then 200
    try:
        _deliver_until_settled()
    finally:
        receiver.stop()

    (delivery,) = _deliveries(client, hook["id"])
    assert delivery["status"] == "delivered" and delivery["attempts"] == 4
    log = delivery["log"]
    assert [entry["status_code"] for entry in log] == [None, 500, None, 200]
    assert "timed out" in log[2]["error"]
    assert {r.headers["webhook-id"] for r in receiver.received} == {delivery["id"]}  # the same id every time
    assert len(receiver.received) == 3


def test_a_delivery_that_keeps_failing_gives_up_when_its_time_is_up(webhook_settings, client, receiver, monkeypatch):
    from app.core.config import get_settings

    monkeypatch.setenv("FLASHJOBS_WEBHOOK_RETRY_FOR_S", "1")
    get_settings.cache_clear()
    receiver.answers.extend([503] * 100)
    hook = _subscribe(client, receiver.url, events=["job.status_changed"])
    client.post("/v1/jobs", json=TRAIN)
    _deliver_until_settled()

    (delivery,) = _deliveries(client, hook["id"])
    assert delivery["status"] == "failed" and delivery["attempts"] >= 2
    assert {entry["status_code"] for entry in delivery["log"]} == {503}


def test_a_webhook_gets_only_the_events_it_subscribed_to(webhook_settings, client, receiver):
    datasets_only = _subscribe(client, receiver.url, events=["dataset.ready"])
    job_id = running_job(client)
    finish_job(job_id)
    _deliver_until_settled()
    assert receiver.received == [] and _deliveries(client, datasets_only["id"]) == []

    assert client.delete(f"/v1/webhooks/{datasets_only['id']}").status_code == 204
    assert client.get(f"/v1/webhooks/{datasets_only['id']}").status_code == 404


def test_the_api_answers_while_its_deliverer_waits_on_a_receiver(webhook_settings, receiver, api_key, monkeypatch):
    from fastapi.testclient import TestClient

    from app.core.config import get_settings
    from app.main import create_app

    monkeypatch.setenv("FLASHJOBS_RECONCILE_IN_API", "true")  # the API's own deliverer loop
    monkeypatch.setenv("FLASHJOBS_WEBHOOK_TIMEOUT_S", "30")
    get_settings.cache_clear()
    receiver.answers.append("hold")
    with TestClient(create_app(), headers=bearer(api_key)) as client:
        _subscribe(client, receiver.url, events=["job.status_changed"])
        first = client.post("/v1/jobs", json=TRAIN).json()["id"]
        assert receiver.holding.wait(20), "the deliverer never reached the receiver"
        # The receiver holds the first delivery open; the API still creates, reads and lists.
        second = client.post("/v1/jobs", json=TRAIN)
        assert second.status_code == 201
        assert client.get(f"/v1/jobs/{first}").json()["status"] == "queued"
        assert not receiver.release.is_set()  # all of that happened while the delivery was held
        receiver.release.set()


@pytest.mark.parametrize("status", ["ready", "invalid"])
def test_a_settled_upload_is_announced(webhook_settings, client, receiver, status):
    from tests.datasets.archives import class_tree, zip_bytes

    hook = _subscribe(client, receiver.url, events=["dataset.ready", "dataset.invalid"])
    tree = class_tree({"cats": 6, "dogs": 6})
    if status == "invalid":  # every dog is unreadable: one class is left, which cannot train
        tree = {**class_tree({"cats": 6}), **{f"dogs/{n}.jpg": b"not a JPEG" for n in range(6)}}
    answer = client.post("/v1/datasets", content=zip_bytes(tree), headers={"Content-Type": "application/zip"})
    assert answer.status_code == 201 and answer.json()["status"] == status, answer.text
    _deliver_until_settled()
    (payload,) = [_verified(hook["secret"], r) for r in receiver.received]
    assert payload["type"] == f"dataset.{status}" and payload["data"]["dataset_id"] == answer.json()["id"]


def test_a_webhook_hears_only_its_own_project(webhook_settings, client, receiver):
    from tests.helpers import bearer, make_key

    other = bearer(make_key("submit", project="other"))
    theirs = client.post("/v1/webhooks", json={"url": receiver.url, "events": JOB_EVENTS}, headers=other).json()
    assert client.get(f"/v1/webhooks/{theirs['id']}").status_code == 404  # another project's: as absent
    assert client.get(f"/v1/webhooks/{theirs['id']}/deliveries").status_code == 404
    assert client.delete(f"/v1/webhooks/{theirs['id']}").status_code == 404
    assert client.get("/v1/webhooks").json()["webhooks"] == []

    job_id = running_job(client)  # the default project's job: nothing for the other project's webhook
    finish_job(job_id)
    _deliver_until_settled()
    assert receiver.received == []
    client.post("/v1/jobs", json=TRAIN, headers=other)  # its own project's job: heard
    _deliver_until_settled()
    (payload,) = [_verified(theirs["secret"], r) for r in receiver.received]
    assert payload["data"]["status"] == "queued"
