"""GET /metrics: the store's counts as SQL has them, epochs observed once each, request latency by route, access."""

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.jobs_by_hand import record_by_hand, running_job


@pytest.fixture
def open_metrics(service_env, monkeypatch):
    from app.core.config import get_settings

    monkeypatch.setenv("FLASHJOBS_METRICS_ACCESS", "open")
    get_settings.cache_clear()


def scrape(client) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of one scrape."""
    answer = client.get("/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def _with_session(fn, **kwargs):
    from app.core.db import session_scope

    with session_scope() as session:
        return fn(session, **kwargs)


def test_jobs_queue_outcomes_and_restarts_are_what_sql_records(open_metrics, client):
    from app.jobs import service
    from app.jobs.status import JobStatus

    succeeded, failed, lost = running_job(client), running_job(client), running_job(client)
    queued = client.post("/v1/jobs", json={"kind": "train", "dataset": {"name": "cifar10"}}).json()["id"]
    _with_session(service.finish, job_id=succeeded, attempt=1, status=JobStatus.SUCCEEDED)
    _with_session(service.finish, job_id=failed, attempt=1, status=JobStatus.FAILED, error=("out_of_memory", "OOM"))
    _with_session(service.release_lost_attempt, job_id=lost, attempt=1, reason="worker lost", max_attempts=3)
    _with_session(service.claim, job_id=lost, owner="second-worker")  # its attempt 2: one restart

    values = scrape(client)

    def jobs(status: str) -> float:
        return values[("flashjobs_jobs", (("project", "default"), ("status", status)))]

    assert (jobs("queued"), jobs("running"), jobs("succeeded"), jobs("failed")) == (1, 1, 1, 1), queued
    assert jobs("cancelled") == 0  # every status is reported, zero or not
    assert values[("flashjobs_queue_depth", ())] == 1
    assert values[("flashjobs_jobs_started_total", ())] == 3
    assert values[("flashjobs_attempt_restarts_total", ())] == 1
    assert values[("flashjobs_webhook_deliveries", (("status", "pending"),))] == 0  # no webhook: none
    finished = {labels: v for (name, labels), v in values.items() if name == "flashjobs_jobs_finished_total"}
    assert finished == {
        (("error_type", "out_of_memory"), ("status", "failed")): 1,
        (("error_type", ""), ("status", "succeeded")): 1,
    }


def test_each_recorded_epoch_is_observed_once_from_the_first_scrape_on(open_metrics, client):
    job_id = running_job(client)
    record_by_hand(job_id, 0, train_epoch_seconds=40.0, train_images_per_second=900.0)
    scrape(client)  # the first scrape starts the count: epochs before it belong to an earlier process's life
    record_by_hand(job_id, 1, train_epoch_seconds=12.0, train_images_per_second=2500.0, val_accuracy=0.5)
    record_by_hand(job_id, 2, train_epoch_seconds=11.0, train_images_per_second=2600.0)

    for _ in range(2):  # a second scrape finds nothing new and counts nothing twice
        values = scrape(client)
        assert values[("flashjobs_epoch_duration_seconds_count", ())] == 2
        assert values[("flashjobs_epoch_duration_seconds_sum", ())] == 23.0
        assert values[("flashjobs_epoch_duration_seconds_bucket", (("le", "10.0"),))] == 0
        assert values[("flashjobs_epoch_duration_seconds_bucket", (("le", "30.0"),))] == 2
        assert values[("flashjobs_epoch_images_per_second_count", ())] == 2
        assert values[("flashjobs_epoch_images_per_second_bucket", (("le", "3000.0"),))] == 2


def test_request_latency_is_labelled_by_route_template_not_by_id(open_metrics, client):
    job_id = running_job(client)
    assert client.get(f"/v1/jobs/{job_id}").status_code == 200
    assert client.get("/v1/jobs/no-such-job").status_code == 404
    assert client.get("/no/such/route").status_code == 404

    counts = {
        dict(labels)["route"] + " " + dict(labels)["status"]: v
        for (name, labels), v in scrape(client).items()
        if name == "flashjobs_http_request_duration_seconds_count" and dict(labels)["method"] == "GET"
    }
    assert counts["/v1/jobs/{job_id} 200"] == 1 and counts["/v1/jobs/{job_id} 404"] == 1
    assert counts["unmatched 404"] == 1
    assert not any(job_id in route for route in counts)


@pytest.mark.parametrize(
    ("peer", "status"), [("127.0.0.1", 200), ("::1", 200), ("203.0.113.9", 403), ("testclient", 403)]
)
def test_by_default_only_clients_on_this_host_may_scrape(service_env, peer, status):
    from app.main import create_app

    with TestClient(create_app(), client=(peer, 50000)) as client:
        answer = client.get("/metrics")
    assert answer.status_code == status, answer.text
    if status == 403:
        assert "FLASHJOBS_METRICS_ACCESS" in answer.json()["detail"]


def test_webhook_deliveries_are_counted_by_status(open_metrics, client, monkeypatch):
    from app.core.config import get_settings

    monkeypatch.setenv("FLASHJOBS_WEBHOOK_ALLOW_NETWORKS", '["127.0.0.0/8"]')
    get_settings.cache_clear()
    hook = client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["job.status_changed"]})
    assert hook.status_code == 201, hook.text
    running_job(client)  # queued, then running: two events waiting for a receiver that is not there

    values = scrape(client)
    assert values[("flashjobs_webhook_deliveries", (("status", "pending"),))] == 2
    assert values[("flashjobs_webhook_deliveries", (("status", "delivered"),))] == 0
