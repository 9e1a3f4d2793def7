"""The control plane over HTTP against real SQL (SQLite and Postgres) and a real Redis broker."""

import json
import time
from datetime import timedelta

import pytest
import redis
from sqlalchemy import update

from tests.helpers import FINETUNE_STEP, POSTGRES_ADMIN_URL, TRAIN


def queued_messages(redis_url: str) -> list[str]:
    """Raw Celery messages waiting in the `training` queue of the real broker."""
    return [m.decode() for m in redis.Redis.from_url(redis_url).lrange("training", 0, -1)]


@pytest.fixture(autouse=True)
def _empty_queue(redis_url: str) -> None:
    redis.Redis.from_url(redis_url).delete("training")


def test_create_job_returns_201_location_and_enqueues_its_id(client, redis_url):
    response = client.post("/v1/jobs", json=TRAIN)
    assert response.status_code == 201, response.text
    job = response.json()
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["status"] == "queued" and job["kind"] == "train" and job["attempt"] == 0
    assert job["progress"] == {"epoch": 0, "max_epochs": 2}
    assert job["spec"]["model"] == {"backbone": "resnet18", "cifar_stem": True}  # defaults filled in
    assert job["error"] is None and job["latest_metrics"] == {}
    messages = queued_messages(redis_url)
    assert len(messages) == 1 and job["id"] in messages[0]
    assert client.get(f"/v1/jobs/{job['id']}").json() == job


def test_unknown_job_is_404(client):
    assert client.get("/v1/jobs/nope").status_code == 404
    assert client.post("/v1/jobs/nope/cancel").status_code == 404
    assert client.get("/v1/jobs/nope/metrics").status_code == 404
    assert client.get("/v1/jobs/nope/artifacts").status_code == 404


def _error_loc(response) -> tuple:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    return tuple(detail["loc"]), detail["msg"]


@pytest.mark.parametrize(
    ("spec", "loc", "says"),
    [
        ({**TRAIN, "model": {"backbone": "vgg11"}}, ("body", "model", "backbone"), "known: resnet18"),
        ({**TRAIN, "trainer": {"max_epochs": 0}}, ("body", "trainer", "max_epochs"), "greater than or equal to 1"),
        ({**TRAIN, "trainer": {"learning_rate": -1}}, ("body", "trainer", "learning_rate"), "greater than 0"),
        ({**TRAIN, "trainer": {"batch_size": 10**6}}, ("body", "trainer", "batch_size"), "over the limit of 1024"),
        ({"kind": "train", "dataset": {"name": "folder"}}, ("body", "dataset", "train_folder"), "needs train_folder"),
        (
            {"kind": "train", "dataset": {"name": "folder", "train_folder": "/etc"}},
            ("body", "dataset", "train_folder"),
            "relative",
        ),
        (
            {"kind": "train", "dataset": {"name": "folder", "train_folder": "a/../../x"}},
            ("body", "dataset", "train_folder"),
            "'..'",
        ),
        ({"kind": "finetune", "dataset": {"name": "cifar100"}}, ("body", "init_from"), "needs init_from"),
        (
            {"kind": "finetune", "dataset": {"name": "cifar100"}, "init_from": {"job_id": "missing"}},
            ("body", "init_from", "job_id"),
            "no job 'missing'",
        ),
        (
            {"kind": "finetune", "dataset": {"name": "cifar100"}, "init_from": {"step": 0}},
            ("body", "init_from", "step"),
            "only valid inside a chain",
        ),
        ({"kind": "train", "dataset": {"name": "imagenet"}}, ("body", "dataset", "name"), "cifar10"),
        ({**TRAIN, "colour": "blue"}, ("body", "colour"), "Extra inputs"),
    ],
)
def test_bad_spec_is_422_naming_the_field(client, spec, loc, says):
    got_loc, msg = _error_loc(client.post("/v1/jobs", json=spec))
    assert got_loc == loc and says in msg
    assert client.get("/v1/jobs").json()["jobs"] == []  # nothing was created


def test_finetune_checks_strategy_arguments_and_backbone_family(client):
    parent = client.post("/v1/jobs", json=TRAIN).json()
    base = {"kind": "finetune", "dataset": {"name": "cifar100"}, "init_from": {"job_id": parent["id"]}}
    loc, msg = _error_loc(client.post("/v1/jobs", json={**base, "finetune": {"strategy": "freeze_unfreeze"}}))
    assert loc == ("body", "finetune", "unfreeze_epoch")
    loc, msg = _error_loc(
        client.post("/v1/jobs", json={**base, "finetune": {"strategy": "unfreeze_milestones", "milestones": [2, 4]}})
    )
    assert loc == ("body", "finetune", "num_layers")
    loc, msg = _error_loc(client.post("/v1/jobs", json={**base, "model": {"backbone": "resnet50"}}))
    assert loc == ("body", "model", "backbone") and "resnet18" in msg
    child = client.post("/v1/jobs", json=base)
    assert child.status_code == 201
    assert child.json()["status"] == "waiting" and child.json()["parent_id"] == parent["id"]
    assert child.json()["spec"]["model"] == parent["spec"]["model"]  # inherited from the parent


def test_chain_second_waits_then_cancel_fails_it_upstream(client, redis_url):
    response = client.post("/v1/chains", json={"steps": [TRAIN, FINETUNE_STEP]})
    assert response.status_code == 201, response.text
    first, second = response.json()["jobs"]
    assert (first["status"], second["status"]) == ("queued", "waiting")
    assert second["parent_id"] == first["id"] and second["spec"]["init_from"] == {"job_id": first["id"]}
    assert len(queued_messages(redis_url)) == 1  # only the runnable job is dispatched

    cancelled = client.post(f"/v1/jobs/{first['id']}/cancel")
    assert cancelled.status_code == 202 and cancelled.json()["status"] == "cancelled"
    second = client.get(f"/v1/jobs/{second['id']}").json()
    assert second["status"] == "failed" and second["error"]["type"] == "upstream_failed"
    assert first["id"] in second["error"]["message"]
    assert client.post(f"/v1/jobs/{first['id']}/cancel").status_code == 202  # cancelling again changes nothing
    assert client.post(f"/v1/jobs/{second['id']}/cancel").status_code == 409


def test_chain_is_all_or_nothing(client):
    bad_second = {**FINETUNE_STEP, "init_from": {"step": 5}}
    loc, _ = _error_loc(client.post("/v1/chains", json={"steps": [TRAIN, bad_second]}))
    assert loc == ("body", "steps", 1, "init_from", "step")
    assert client.get("/v1/jobs").json()["jobs"] == []


def test_cascade_goes_down_the_whole_chain(client):
    third = {**FINETUNE_STEP, "init_from": {"step": 1}}
    jobs = client.post("/v1/chains", json={"steps": [TRAIN, FINETUNE_STEP, third]}).json()["jobs"]
    client.post(f"/v1/jobs/{jobs[0]['id']}/cancel")
    for job in jobs[1:]:
        assert client.get(f"/v1/jobs/{job['id']}").json()["error"]["type"] == "upstream_failed"


def test_idempotency_key_replays_and_conflicts(client, redis_url):
    headers = {"Idempotency-Key": "submit-42"}
    first = client.post("/v1/jobs", json=TRAIN, headers=headers)
    again = client.post("/v1/jobs", json=TRAIN, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["location"] == first.headers["location"]
    assert len(client.get("/v1/jobs").json()["jobs"]) == 1
    assert len(queued_messages(redis_url)) == 1
    other = client.post("/v1/jobs", json={**TRAIN, "trainer": {"max_epochs": 3}}, headers=headers)
    assert other.status_code == 409 and "different request body" in other.json()["detail"]
    chain = client.post("/v1/chains", json={"steps": [TRAIN, FINETUNE_STEP]}, headers={"Idempotency-Key": "c1"})
    chain_again = client.post("/v1/chains", json={"steps": [TRAIN, FINETUNE_STEP]}, headers={"Idempotency-Key": "c1"})
    assert chain_again.json() == chain.json()
    assert len(client.get("/v1/jobs").json()["jobs"]) == 3


def test_list_is_newest_first_filtered_and_paginated(client):
    ids = [client.post("/v1/jobs", json=TRAIN).json()["id"] for _ in range(5)]
    client.post(f"/v1/jobs/{ids[0]}/cancel")
    seen, cursor = [], None
    while True:
        page = client.get("/v1/jobs", params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        seen += [job["id"] for job in page["jobs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]
    cancelled = client.get("/v1/jobs", params={"status": "cancelled"}).json()["jobs"]
    assert [job["id"] for job in cancelled] == [ids[0]]
    assert client.get("/v1/jobs", params={"status": "bogus"}).status_code == 422
    assert client.get("/v1/jobs", params={"cursor": "garbage"}).status_code == 422


def test_list_filters_by_parent_id(client):
    first, second = client.post("/v1/chains", json={"steps": [TRAIN, FINETUNE_STEP]}).json()["jobs"]
    client.post("/v1/jobs", json=TRAIN)
    children = client.get("/v1/jobs", params={"parent_id": first["id"]}).json()
    assert [job["id"] for job in children["jobs"]] == [second["id"]] and children["next_cursor"] is None
    assert client.get("/v1/jobs", params={"parent_id": second["id"]}).json()["jobs"] == []
    assert client.get("/v1/jobs", params={"parent_id": "a\x00b"}).status_code == 422


def test_worker_style_claim_is_won_once_and_success_releases_children(client, redis_url):
    from app.core.db import session_scope
    from app.jobs import service

    first, second = client.post("/v1/chains", json={"steps": [TRAIN, FINETUNE_STEP]}).json()["jobs"]
    with session_scope() as session:
        assert service.claim(session, job_id=first["id"], owner="w1").attempt == 1
    with session_scope() as session:
        assert service.claim(session, job_id=first["id"], owner="w2") is None  # duplicate delivery: no-op
        assert service.claim(session, job_id=second["id"], owner="w2") is None  # waiting is not claimable
    with session_scope() as session:
        assert service.finish(session, job_id=first["id"], attempt=1, status="succeeded") == [second["id"]]
    assert client.get(f"/v1/jobs/{second['id']}").json()["status"] == "queued"
    with session_scope() as session:  # a stale attempt cannot finish the job again
        assert service.finish(session, job_id=first["id"], attempt=1, status="failed") == []
    assert client.get(f"/v1/jobs/{first['id']}").json()["status"] == "succeeded"


def test_cancel_of_running_job_asks_the_worker(client):
    from app.core.db import session_scope
    from app.jobs import service

    job = client.post("/v1/jobs", json=TRAIN).json()
    with session_scope() as session:
        service.claim(session, job_id=job["id"], owner="w1")
    response = client.post(f"/v1/jobs/{job['id']}/cancel")
    assert response.status_code == 202 and response.json()["status"] == "cancelling"
    assert client.post(f"/v1/jobs/{job['id']}/cancel").status_code == 202  # asking twice is fine
    with session_scope() as session:
        assert service.heartbeat(session, job_id=job["id"], attempt=1) == "cancelling"
        service.finish(session, job_id=job["id"], attempt=1, status="cancelled")
    assert client.get(f"/v1/jobs/{job['id']}").json()["status"] == "cancelled"


def test_reconciler_resends_lost_messages_and_requeues_silent_attempts(client, redis_url):
    from app.core.config import get_settings
    from app.core.db import session_scope, utcnow
    from app.jobs import service
    from app.jobs.models import Job
    from app.jobs.reconciler import reconcile_once

    settings = get_settings().model_copy(update={"max_attempts": 2, "heartbeat_timeout_s": 30})
    job = client.post("/v1/jobs", json=TRAIN).json()
    redis.Redis.from_url(redis_url).delete("training")  # the message is lost
    with session_scope() as session:  # ... and it was sent long ago
        session.execute(update(Job).where(Job.id == job["id"]).values(dispatched_at=utcnow() - timedelta(hours=1)))
    reconcile_once(settings)
    assert any(job["id"] in m for m in queued_messages(redis_url))
    reconcile_once(settings)  # idempotent: recently sent, so not sent again
    assert len(queued_messages(redis_url)) == 1

    for attempt in (1, 2):  # a worker claims it, then goes silent
        with session_scope() as session:
            service.claim(session, job_id=job["id"], owner="w")
            session.execute(update(Job).where(Job.id == job["id"]).values(heartbeat_at=utcnow() - timedelta(minutes=5)))
        reconcile_once(settings)
        state = client.get(f"/v1/jobs/{job['id']}").json()
        assert state["attempt"] == attempt
    assert state["status"] == "failed" and state["error"]["type"] == "worker_lost"


def test_migrations_match_the_models(service_env):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from app.core.db import Base, get_engine

    with get_engine().connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == [], json.dumps([str(d) for d in diff])


def test_reads_survive_the_database_dropping_every_connection(client, database_url, monkeypatch):
    """As after a Postgres restart: pooled connections that sat idle are pinged and replaced, not handed out dead."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no server connections to lose")
    import sqlalchemy as sa

    from app.core import db

    monkeypatch.setattr(db, "IDLE_BEFORE_PING_S", 0.05)
    job_id = client.post("/v1/jobs", json=TRAIN).json()["id"]
    assert client.get(f"/v1/jobs/{job_id}/metrics").status_code == 200  # the pools now hold open connections
    database = database_url.rsplit("/", 1)[1]
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        dropped = conn.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": database},
        )
        assert dropped.scalar() >= 1
    admin.dispose()
    time.sleep(0.1)  # longer than the idle threshold: the next checkout pings

    assert client.get(f"/v1/jobs/{job_id}/metrics").status_code == 200
    assert client.get(f"/v1/jobs/{job_id}").status_code == 200
    assert client.post(f"/v1/jobs/{job_id}/cancel").status_code == 202


def test_migration_0002_counts_the_metric_rows_of_existing_jobs(client):
    from alembic import command
    from sqlalchemy import text

    from app.core.config import get_settings
    from app.core.db import get_engine
    from app.core.migrate import alembic_config, upgrade

    url = get_settings().effective_database_url
    jobs = [client.post("/v1/jobs", json=TRAIN).json()["id"] for _ in range(2)]
    get_engine().dispose()
    command.downgrade(alembic_config(url), "0001")
    with get_engine().begin() as conn:  # rows written by a 0001 deployment
        for epoch in range(3):
            conn.execute(
                text(
                    "INSERT INTO metrics (job_id, epoch, split, name, value, attempt, recorded_at) "
                    "VALUES (:job, :epoch, 'val', 'accuracy', 0.5, 1, :now)"
                ),
                {"job": jobs[0], "epoch": epoch, "now": "2026-11-27 12:00:00"},
            )
    get_engine().dispose()
    upgrade(url)
    with get_engine().connect() as conn:
        counts = dict(conn.execute(text("SELECT id, metric_rows FROM jobs")).all())
    assert counts == {jobs[0]: 3, jobs[1]: 0}


def test_preempted_attempts_do_not_count_towards_max_attempts(client):
    from app.core.db import session_scope
    from app.jobs import service

    job = client.post("/v1/jobs", json=TRAIN).json()
    for attempt in range(1, 5):  # the worker is stopped four times while the job runs; each time it checkpoints
        with session_scope() as session:
            service.claim(session, job_id=job["id"], owner="w")
            service.release_lost_attempt(
                session, job_id=job["id"], attempt=attempt, reason="worker stopping", max_attempts=2, preempted=True
            )
    state = client.get(f"/v1/jobs/{job['id']}").json()
    assert state["status"] == "queued" and state["attempt"] == 4
