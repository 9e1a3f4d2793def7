"""Job-changed notices: every writer publishes one, polls of running curves trust them, and fall back without them."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from tests.helpers import TRAIN_THREE_EPOCHS, bearer, free_port
from tests.jobs_by_hand import REVISION_READ, answer_late, finish_job, get_at_once, record_by_hand, running_job


def _wait_until(predicate, what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.02)


def _following() -> bool:
    from app.jobs.freshness import freshness

    return freshness.subscribed_now


def _epochs(client, job_id: str) -> list[int]:
    body = client.get(f"/v1/jobs/{job_id}/metrics").json()
    return [point["epoch"] for point in body["series"].get("val_accuracy", [])]


class Notices:
    """A plain Redis subscriber on the notice channel, as another API process would be."""

    def __init__(self, redis_url: str) -> None:
        from app.jobs.changes import CHANNEL

        self.pubsub = redis.Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(CHANNEL)
        self.pubsub.get_message(timeout=1)  # the subscription's confirmation

    def received(self) -> set[str]:
        from app.jobs.changes import parse

        job_ids: set[str] = set()
        while (message := self.pubsub.get_message(timeout=0.5)) is not None:
            job_ids.update(parse(message["data"]))
        return job_ids


def test_every_change_to_a_status_or_a_curve_is_announced_after_commit(client, redis_url):
    from sqlalchemy import update

    from app.core.db import session_scope
    from app.jobs import service
    from app.jobs.models import Job

    notices = Notices(redis_url)
    finetunes = [{**TRAIN_THREE_EPOCHS, "kind": "finetune", "init_from": {"step": step}} for step in (0, 1)]
    chain = client.post("/v1/chains", json={"steps": [TRAIN_THREE_EPOCHS, *finetunes]})
    parent, child, grandchild = [job["id"] for job in chain.json()["jobs"]]
    assert notices.received() == set()  # a new job has no cached curve anywhere
    with session_scope() as session:
        service.claim(session, job_id=parent, owner="w")
    assert notices.received() == {parent}
    record_by_hand(parent, 0)
    record_by_hand(parent, 1)
    assert notices.received() == {parent}
    record_by_hand(parent, 0)  # an earlier epoch again (a resumed attempt): nothing changed, nothing announced
    assert notices.received() == set()
    with session_scope() as session:
        service.heartbeat(session, job_id=parent, attempt=1)
        session.execute(update(Job).where(Job.id == parent).values(dispatched_at=None))  # not part of a curve
    assert notices.received() == set()

    with pytest.raises(RuntimeError), session_scope() as session:  # rolled back: nothing happened
        service.release_lost_attempt(session, job_id=parent, attempt=1, reason="test", max_attempts=3)
        raise RuntimeError
    assert notices.received() == set()
    with session_scope() as session:
        service.release_lost_attempt(session, job_id=parent, attempt=1, reason="test", max_attempts=3)
        service.claim(session, job_id=parent, owner="w")
    assert notices.received() == {parent}

    assert client.post(f"/v1/jobs/{parent}/cancel").json()["status"] == "cancelling"
    assert notices.received() == {parent}
    with session_scope() as session:  # the worker stops: its children fail upstream, all in one transaction
        service.finish(session, job_id=parent, attempt=2, status="cancelled")
    assert notices.received() == {parent, child, grandchild}


def test_a_running_curve_is_read_again_when_another_process_announces_a_change(client, monkeypatch):
    from app.jobs import freshness

    monkeypatch.setattr(freshness, "TRUST_S", 3600.0)  # only a notice can make this poller read again
    job_id = running_job(client)
    record_by_hand(job_id, 0)
    _wait_until(_following, "the app follows the notices")
    reads = answer_late(REVISION_READ, 0)
    for _ in range(3):
        assert _epochs(client, job_id) == [0]
    assert len(reads) == 1  # later polls are answered from memory

    # Another process records an epoch through the real writer path: its commit publishes on Redis.
    writer = (
        "from app.core.db import session_scope\nfrom app.metrics.service import record_epoch\n"
        "with session_scope() as s:\n"
        f"    assert record_epoch(s, job_id={job_id!r}, attempt=1, epoch=1, values={{'val_accuracy': 0.5}})\n"
    )
    subprocess.run([sys.executable, "-c", writer], check=True, cwd=Path(__file__).resolve().parents[2], timeout=60)
    _wait_until(lambda: _epochs(client, job_id) == [0, 1], "the poll shows the other process's epoch")
    assert _epochs(client, job_id) == [0, 1]


def test_a_change_nobody_announced_shows_once_the_cached_curve_is_too_old(client, monkeypatch):
    from sqlalchemy import update

    from app.core.db import get_engine
    from app.jobs import freshness
    from app.jobs.models import Job

    monkeypatch.setattr(freshness, "TRUST_S", 0.3)
    job_id = running_job(client)
    record_by_hand(job_id, 0)
    _wait_until(_following, "the app follows the notices")
    assert client.get(f"/v1/jobs/{job_id}/metrics").json()["status"] == "running"
    # A writer that crashed between its commit and its notice: a bare connection, no Session, no notice.
    with get_engine().begin() as conn:
        conn.execute(update(Job).where(Job.id == job_id).values(status="cancelling"))
    time.sleep(freshness.TRUST_S)
    assert client.get(f"/v1/jobs/{job_id}/metrics").json()["status"] == "cancelling"


def test_this_process_sees_its_own_commit_at_once(client, monkeypatch):
    from app.jobs import changes, freshness

    monkeypatch.setattr(freshness, "TRUST_S", 3600.0)
    monkeypatch.setattr(changes, "_publish", lambda job_ids: None)  # a notice via Redis would come too late
    job_id = running_job(client)
    record_by_hand(job_id, 0)
    _wait_until(_following, "the app follows the notices")
    assert _epochs(client, job_id) == [0]
    for epoch in (1, 2):  # no waiting for Redis: the commit's own hook tells this process's poller
        record_by_hand(job_id, epoch)
        assert _epochs(client, job_id) == list(range(epoch + 1))
    assert client.post(f"/v1/jobs/{job_id}/cancel").status_code == 202
    assert client.get(f"/v1/jobs/{job_id}/metrics").json()["status"] == "cancelling"


def test_polls_read_sql_while_redis_is_away_and_trust_notices_again_after(service_env, api_key, tmp_path, monkeypatch):
    from fastapi.testclient import TestClient
    from sqlalchemy import update

    from app.core.config import get_settings
    from app.core.db import get_engine
    from app.core.embedded_redis import start_redis_server
    from app.jobs import changes, freshness
    from app.jobs.models import Job
    from app.main import create_app

    port = free_port()  # a Redis of this test's own, to stop and start again
    monkeypatch.setenv("FLASHJOBS_REDIS_URL", f"redis://127.0.0.1:{port}/0")
    monkeypatch.setattr(changes, "PAUSE_AFTER_FAILURE_S", 0.0)
    monkeypatch.setattr(freshness, "TRUST_S", 3600.0)
    get_settings.cache_clear()
    server = start_redis_server(port=port, data_dir=tmp_path / "redis")
    try:
        with TestClient(create_app(), headers=bearer(api_key)) as client:
            job_id = running_job(client)
            record_by_hand(job_id, 0)
            _wait_until(_following, "the app follows the notices")
            reads = answer_late(REVISION_READ, 0)
            assert _epochs(client, job_id) == [0] and _epochs(client, job_id) == [0]
            assert len(reads) == 1

            server.terminate()
            server.wait(timeout=10)
            _wait_until(lambda: not _following(), "the app notices that Redis went away")
            record_by_hand(job_id, 1)  # its notice cannot be published
            for _ in range(3):
                assert _epochs(client, job_id) == [0, 1]
            assert len(reads) == 4  # nothing trusted: every poll asked SQL
            with get_engine().begin() as conn:  # a change whose notice is lost with Redis (no Session: no notice)
                conn.execute(update(Job).where(Job.id == job_id).values(status="cancelling"))

            server = start_redis_server(port=port, data_dir=tmp_path / "redis")
            _wait_until(_following, "the app follows the notices again", timeout_s=30)
            # What was read before the subscription is not trusted: notices may have been missed meanwhile.
            assert client.get(f"/v1/jobs/{job_id}/metrics").json()["status"] == "cancelling"
            before = len(reads)
            assert _epochs(client, job_id) == [0, 1] and len(reads) == before  # trusted again
            finish_job(job_id)
            assert json.loads(client.get(f"/v1/jobs/{job_id}/metrics").content)["status"] == "succeeded"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_following_stops_whenever_it_is_told(redis_url):
    """A stop that lands while redis-py connects must still stop it (Python 3.11 can swallow that cancel)."""
    import asyncio

    import redis.asyncio as aioredis

    from app.jobs.freshness import Freshness

    async def start_then_stop(after_s: float) -> bool:
        client = aioredis.from_url(redis_url)
        stop = asyncio.Event()
        follower = asyncio.create_task(Freshness().follow(client, stop))
        await asyncio.sleep(after_s)
        stop.set()
        follower.cancel()
        done, _ = await asyncio.wait([follower], timeout=10)
        await client.aclose()
        return bool(done)

    # Every moment of the first few milliseconds: connecting, subscribing, waiting for a notice.
    assert all(asyncio.run(start_then_stop(step * 0.0001)) for step in range(50))


def test_a_job_view_is_answered_from_memory_until_its_job_changes(client, monkeypatch):
    from app.jobs import changes, freshness
    from app.jobs.views import job_views

    monkeypatch.setattr(freshness, "TRUST_S", 3600.0)
    monkeypatch.setattr(changes, "_publish", lambda job_ids: None)  # this process's own notices only
    job_id = running_job(client)
    _wait_until(_following, "the app follows the notices")
    reads, real_read = [], job_views._read
    monkeypatch.setattr(job_views, "_read", lambda session, job_id: reads.append(job_id) or real_read(session, job_id))
    first = client.get(f"/v1/jobs/{job_id}")
    assert first.json()["status"] == "running" and first.json()["progress"]["epoch"] == 0
    assert client.get(f"/v1/jobs/{job_id}", headers={"If-None-Match": first.headers["etag"]}).status_code == 304
    assert client.get(f"/v1/jobs/{job_id}").content == first.content and len(reads) == 1

    record_by_hand(job_id, 0, val_accuracy=0.25)
    after = client.get(f"/v1/jobs/{job_id}", headers={"If-None-Match": first.headers["etag"]})
    assert after.status_code == 200 and after.headers["etag"] != first.headers["etag"]
    assert after.json()["progress"]["epoch"] == 1 and after.json()["latest_metrics"] == {"val_accuracy": 0.25}
    finish_job(job_id)
    done = client.get(f"/v1/jobs/{job_id}").json()
    assert done["status"] == "succeeded" and done["finished_at"] is not None and len(reads) == 3
    for _ in range(3):  # final: nothing can change it
        assert client.get(f"/v1/jobs/{job_id}").json() == done
    assert len(reads) == 3
    assert client.get("/v1/jobs/nope").status_code == 404


def test_concurrent_status_polls_of_one_job_share_reads(client, monkeypatch):
    from app.jobs import freshness

    monkeypatch.setattr(freshness, "TRUST_S", 0.0)  # every poll needs a read: only sharing can save one
    job_id = running_job(client)
    reads = answer_late("SELECT jobs.id, jobs.kind", 0.2)
    answers = get_at_once(client, f"/v1/jobs/{job_id}")
    assert len(answers) == 20 and len(set(answers)) == 1
    assert len(reads) <= 3  # one running, one queued behind it (and one more for a thread scheduled very late)
