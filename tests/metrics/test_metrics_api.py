"""Metric curves over HTTP: fenced writes, polling with ETag, and the SSE stream's durability."""

import json
import threading
import time

import redis

from tests.jobs_by_hand import REVISION_READ, answer_late, finish_job, get_at_once, record_by_hand, running_job


def test_series_names_since_epoch_and_latest(client):
    job_id = running_job(client)
    for epoch in range(3):
        assert record_by_hand(job_id, epoch)
    body = client.get(f"/v1/jobs/{job_id}/metrics").json()
    assert body["series"]["val_accuracy"] == [{"epoch": e, "value": 0.1 * (e + 1)} for e in range(3)]
    assert set(body["series"]) == {"train_loss", "val_accuracy", "val_f1"}
    only = client.get(f"/v1/jobs/{job_id}/metrics", params={"names": "val_f1", "since_epoch": 2}).json()
    assert only["series"] == {"val_f1": [{"epoch": 2, "value": 0.15000000000000002}]}
    job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["progress"] == {"epoch": 3, "max_epochs": 3}
    assert job["latest_metrics"]["val_accuracy"] == 0.30000000000000004


def test_etag_makes_an_unchanged_poll_304(client):
    job_id = running_job(client)
    record_by_hand(job_id, 0)
    first = client.get(f"/v1/jobs/{job_id}/metrics")
    etag = first.headers["etag"]
    unchanged = client.get(f"/v1/jobs/{job_id}/metrics", headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    record_by_hand(job_id, 1)
    changed = client.get(f"/v1/jobs/{job_id}/metrics", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


def test_stale_attempt_cannot_write_and_rerecording_keeps_values(client):
    from app.core.db import session_scope
    from app.jobs.service import claim, release_lost_attempt

    job_id = running_job(client)
    record_by_hand(job_id, 0, val_accuracy=0.5)
    with session_scope() as session:  # attempt 1 is declared lost; attempt 2 takes over
        release_lost_attempt(session, job_id=job_id, attempt=1, reason="test", max_attempts=3)
        claim(session, job_id=job_id, owner="w2")
    assert not record_by_hand(job_id, 1, attempt=1, val_accuracy=0.9)  # fenced out
    assert record_by_hand(job_id, 0, attempt=2, val_accuracy=0.5)  # a resume re-reports epoch 0 identically
    assert record_by_hand(job_id, 1, attempt=2, val_accuracy=0.6)
    series = client.get(f"/v1/jobs/{job_id}/metrics").json()["series"]["val_accuracy"]
    assert series == [{"epoch": 0, "value": 0.5}, {"epoch": 1, "value": 0.6}]
    assert _metric_rows(job_id) == (2, 2)  # the re-report inserted nothing and counted nothing


def test_a_re_reported_epoch_changes_neither_its_curve_nor_latest_metrics(client):
    job_id = running_job(client)
    assert record_by_hand(job_id, 0, val_accuracy=0.5, val_f1=0.4)
    assert record_by_hand(job_id, 0, val_accuracy=0.9, val_f1=0.4)  # a resume that did not reproduce the epoch exactly
    job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["latest_metrics"] == {"val_accuracy": 0.5, "val_f1": 0.4} and job["progress"]["epoch"] == 1
    assert client.get(f"/v1/jobs/{job_id}/metrics").json()["series"]["val_accuracy"] == [{"epoch": 0, "value": 0.5}]
    assert record_by_hand(job_id, 0, val_accuracy=0.9, val_loss=1.5)  # a series the epoch lacked is recorded, and shown
    assert client.get(f"/v1/jobs/{job_id}").json()["latest_metrics"] == {
        "val_accuracy": 0.5,
        "val_f1": 0.4,
        "val_loss": 1.5,
    }


def _metric_rows(job_id: str) -> tuple[int, int]:
    """(jobs.metric_rows, the rows actually in metrics) for one job."""
    from sqlalchemy import func, select

    from app.core.db import session_scope
    from app.jobs.models import Job
    from app.metrics.models import Metric

    with session_scope() as session:
        counted = session.scalar(select(func.count()).where(Metric.job_id == job_id))
        return session.get(Job, job_id).metric_rows, counted


def test_a_new_series_at_a_recorded_epoch_changes_the_etag(client):
    job_id = running_job(client)
    record_by_hand(job_id, 0, val_accuracy=0.5)
    record_by_hand(job_id, 1, val_accuracy=0.6)
    etag = client.get(f"/v1/jobs/{job_id}/metrics").headers["etag"]
    record_by_hand(job_id, 0, val_accuracy=0.5, val_f1=0.4)  # epoch 0 again, with one series it lacked
    changed = client.get(f"/v1/jobs/{job_id}/metrics", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.json()["series"]["val_f1"] == [{"epoch": 0, "value": 0.4}]
    assert _metric_rows(job_id) == (3, 3)


def _read_sse(client, url: str, headers: dict | None = None) -> list[tuple[str, str | None, dict]]:
    """(event, id, data) for every event until the stream ends."""
    events, current = [], {}
    with client.stream("GET", url, headers=headers or {}) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if not line:
                if "event" in current:
                    events.append((current["event"], current.get("id"), json.loads(current["data"])))
                current = {}
                continue
            field, _, value = line.partition(":")
            current[field] = value.strip()
    return events


def test_sse_delivers_each_epoch_once_live_and_resumes(client, redis_url):
    from app.metrics import live

    job_id = running_job(client)
    record_by_hand(job_id, 0)

    def train_on() -> None:  # what a worker does: SQL first, then the live channel
        time.sleep(0.5)
        live.publish(
            redis.Redis.from_url(redis_url),
            job_id=job_id,
            event="progress",
            payload={"epoch": 1, "batch": 5, "num_batches": 10, "images_per_second": 100.0, "eta_seconds": 1},
        )
        for epoch in (1, 2):
            record_by_hand(job_id, epoch)
            live.publish(redis.Redis.from_url(redis_url), job_id=job_id, event="epoch", payload={"epoch": epoch})
            time.sleep(0.3)
        finish_job(job_id)
        live.publish(redis.Redis.from_url(redis_url), job_id=job_id, event="end", payload={"status": "succeeded"})

    threading.Thread(target=train_on).start()
    events = _read_sse(client, f"/v1/jobs/{job_id}/metrics/stream")
    epochs = [(e, i, d["epoch"]) for e, i, d in events if e == "epoch"]
    assert epochs == [("epoch", "0", 0), ("epoch", "1", 1), ("epoch", "2", 2)]
    assert any(e == "progress" and d["batch"] == 5 for e, _, d in events)
    assert events[-1][0] == "end" and events[-1][2]["status"] == "succeeded"
    assert events[0][2]["metrics"]["val_accuracy"] == 0.1

    resumed = _read_sse(client, f"/v1/jobs/{job_id}/metrics/stream", headers={"Last-Event-ID": "1"})
    assert [(e, d.get("epoch")) for e, _, d in resumed] == [("epoch", 2), ("end", None)]


def test_sse_serves_epochs_from_sql_when_redis_lost_them(client, redis_url):
    from app.metrics import live

    job_id = running_job(client)
    for epoch in range(3):
        record_by_hand(job_id, epoch)
    redis.Redis.from_url(redis_url).delete(live.stream_key(job_id))  # trimmed, or a Redis restart
    finish_job(job_id, "succeeded")
    events = _read_sse(client, f"/v1/jobs/{job_id}/metrics/stream")
    assert [d.get("epoch") for e, _, d in events if e == "epoch"] == [0, 1, 2]


def test_sse_unknown_job_and_bad_last_event_id(client):
    assert client.get("/v1/jobs/nope/metrics/stream").status_code == 404
    job_id = running_job(client)
    assert client.get(f"/v1/jobs/{job_id}/metrics/stream", headers={"Last-Event-ID": "x"}).status_code == 422


SERIES_READ = "SELECT metrics.epoch, metrics.split"  # its read of the curve itself, on a cache miss


def _poll(client, job_id: str) -> tuple[str, bytes]:
    response = client.get(f"/v1/jobs/{job_id}/metrics")
    assert response.status_code == 200
    return response.headers["etag"], response.content


def test_concurrent_polls_of_one_curve_share_reads(client):
    job_id = running_job(client)
    record_by_hand(job_id, 0)
    reads = answer_late(REVISION_READ, 0.2)
    answers = get_at_once(client, f"/v1/jobs/{job_id}/metrics")
    assert len(answers) == 20 and len(set(answers)) == 1
    assert len(reads) <= 3  # one running, one queued behind it (and one more for a thread scheduled very late)


def test_a_poll_never_takes_the_answer_of_a_read_that_began_before_it(client):
    job_id = running_job(client)
    record_by_hand(job_id, 0)
    reads = answer_late(SERIES_READ, 0.3)
    answers = {}
    early = threading.Thread(target=lambda: answers.update(early=_poll(client, job_id)))
    early.start()
    while not reads:  # the early poll has read the curve in SQL and is on its way back
        time.sleep(0.005)
    record_by_hand(job_id, 1)
    answers["late"] = _poll(client, job_id)
    early.join(timeout=30)

    def epochs(answer) -> list[int]:
        return [point["epoch"] for point in json.loads(answer[1])["series"]["val_accuracy"]]

    assert epochs(answers["early"]) == [0]  # it read before epoch 1 was recorded
    assert epochs(answers["late"]) == [0, 1]  # began after: it must not share the early read


def test_a_finished_curve_is_answered_without_sql_even_when_old(client, monkeypatch):
    from app.jobs import freshness

    monkeypatch.setattr(freshness, "TRUST_S", 0.0)  # a running curve: every poll checks its revision
    job_id = running_job(client)
    record_by_hand(job_id, 0)
    reads = answer_late(REVISION_READ, 0)
    for _ in range(3):
        assert client.get(f"/v1/jobs/{job_id}/metrics").status_code == 200
    assert len(reads) == 3
    finish_job(job_id)
    first = client.get(f"/v1/jobs/{job_id}/metrics")
    assert first.json()["status"] == "succeeded" and len(reads) == 4
    again = client.get(f"/v1/jobs/{job_id}/metrics", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and client.get(f"/v1/jobs/{job_id}/metrics").content == first.content
    assert len(reads) == 4  # final: nothing can change it, so no more SQL


def test_a_failed_read_fails_only_the_polls_that_shared_it(client, monkeypatch):
    import pytest
    from sqlalchemy.exc import OperationalError

    from app.metrics.polling import curve_poller

    job_id = running_job(client)
    record_by_hand(job_id, 0)
    real_read = curve_poller._read
    failures = iter([OperationalError("SELECT", {}, Exception("database went away"))])

    def read_failing_once(session, key):
        error = next(failures, None)
        if error is not None:
            raise error
        return real_read(session, key)

    monkeypatch.setattr(curve_poller, "_read", read_failing_once)
    with pytest.raises(OperationalError):
        client.get(f"/v1/jobs/{job_id}/metrics")
    assert curve_poller.reads.in_flight() == 0  # nothing left waiting on the failed read
    assert client.get(f"/v1/jobs/{job_id}/metrics").status_code == 200
