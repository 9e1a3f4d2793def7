"""A real training job's events reach a real receiver through the API's own deliverer, each once and in order."""

import json
from pathlib import Path

import pytest

from tests.e2e.service_stack import wait_for
from tests.e2e.test_queue_order_e2e import TINY
from tests.helpers import free_port
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.slow


def test_a_trained_job_announces_each_status_and_epoch(service_env, start_stack):
    from app.synthetic_data import write_cifar10

    write_cifar10(Path(service_env["FLASHJOBS_DATA_DIR"]), train_per_class=4, val_per_class=2)
    receiver = Receiver(port=free_port()).start()
    try:
        stack = start_stack(
            FLASHJOBS_WEBHOOK_ALLOW_NETWORKS='["127.0.0.0/8"]',
            FLASHJOBS_RECONCILE_IN_API="true",  # the API runs the deliverer beside the reconciler
            FLASHJOBS_HEARTBEAT_S="0.5",
        )
        hook = stack.http.post(
            "/v1/webhooks",
            json={"url": receiver.url, "events": ["job.status_changed", "job.epoch_recorded"]},
            timeout=10,
        ).json()
        job = stack.http.post("/v1/jobs", json={**TINY, "trainer": {**TINY["trainer"], "max_epochs": 2}})
        job_id = job.json()["id"]

        def statuses() -> list[str]:
            events = sorted((json.loads(r.body) for r in receiver.received), key=lambda p: p["timestamp"])
            return [p["data"].get("status") or f"epoch {p['data']['epoch']}" for p in events]

        try:
            wait_for(lambda: "succeeded" in statuses(), timeout=300, what="the job's last event")
        except TimeoutError:
            raise AssertionError((statuses(), stack.all_logs())) from None
        assert statuses() == ["queued", "running", "epoch 0", "epoch 1", "succeeded"]
        deliveries = stack.http.get(f"/v1/webhooks/{hook['id']}/deliveries", timeout=10).json()["deliveries"]
        assert len(deliveries) == 5 and {d["status"] for d in deliveries} == {"delivered"}
        assert {r.headers["webhook-id"] for r in receiver.received} == {d["id"] for d in deliveries}
        assert {json.loads(r.body)["data"]["job_id"] for r in receiver.received} == {job_id}
    finally:
        receiver.stop()
